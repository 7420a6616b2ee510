"""The transport interface: hand one MIME message to SES, return SES's message id or raise."""

from __future__ import annotations

from typing import Protocol

from ses_ramp.producers.message import Message


class Transport(Protocol):
    name: str

    def send(self, message: Message, mime: bytes) -> str:
        """Send `mime` (built from `message`) and return the SES message id.

        Raise anything; `outcomes.classify` maps it to deferred / paused / permanent / unconfirmed.
        """

    def account_quota(self) -> tuple[float, float, float] | None:
        """(Max24HourSend, SentLast24Hours, MaxSendRate) from SES, or None if not available."""
