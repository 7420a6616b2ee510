"""The transport interface: hand one MIME message to SES, return SES's message id or raise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ses_ramp.config import Settings
from ses_ramp.producers.feedback import feedback_id, has_own
from ses_ramp.producers.message import Message
from ses_ramp.producers.unsubscribe import headers_for


def added_headers(settings: Settings, message: Message) -> dict[str, str]:
    """The headers every transport adds to the app's: List-Id and RFC 8058's pair (bulk with a list), and
    Gmail's Feedback-ID (every message, unless it brings its own; `producers/feedback.py`)."""
    headers = headers_for(settings, message)
    if not has_own(message):
        headers["Feedback-ID"] = feedback_id(message, settings.feedback_sender_id)
    return headers


class Transport(Protocol):
    name: str

    def send(self, message: Message, claim: Callable[[], str]) -> str:
        """Send `message` and return the SES message id. A transport that speaks raw MIME renders it
        with `producers.mime.build_mime` (before claiming: rendering is not part of the send).

        Call `claim()` once, as the very last step before the request leaves this process (after
        connecting and serialising): it reserves the budget and the idempotency record, or raises to
        say "not now", and returns the configuration set the message must carry (the dedicated one, or
        the overflow route's). Claiming late keeps the window in which a crash leaves a message
        ambiguous (SES may or may not have it) as short as it can be.
        Raise anything else; `outcomes.classify` maps it to deferred / paused / permanent / unconfirmed.
        """

    def account_quota(self) -> tuple[float, float, float] | None:
        """(Max24HourSend, SentLast24Hours, MaxSendRate) from SES, or None if not available."""
