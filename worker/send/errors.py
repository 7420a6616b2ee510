"""The worker's error hierarchy: one root, retryable apart from permanent.

Transports raise these (or botocore/smtplib errors that `outcomes.classify` maps onto them).
"""

from __future__ import annotations


class RampError(Exception):
    """Root of every ses-ramp worker error."""


class Retryable(RampError):
    """Try again later; the message is kept."""


class Deferred(Retryable):
    """The receiver or SES said "slow down" (421/450/451/454, throttling): retry with backoff, attempt spent."""


class QuotaExhausted(Retryable):
    """SES's own daily quota is used up: wait for the window, no attempt spent."""


class Paused(Retryable):
    """SES paused sending for the account or configuration set: pause the fleet, keep the message."""


class Misconfigured(Retryable):
    """ses-ramp cannot send at all as configured (no or revoked credentials, a bad signature, access
    denied, an unknown configuration set, an unverified From identity): pause the fleet with the
    reason and keep the message; it is not the message's fault, so no attempt is spent and nothing
    is dead-lettered. `ramp resume` after the fix sends it."""


class Unconfirmed(RampError):
    """SES may or may not have accepted the message (a read timeout): never resent automatically."""


class Permanent(RampError):
    """SES or the receiver refused for good (550, MessageRejected): no retry, dead-lettered.

    `unknown_recipients` lists addresses the receiver said do not exist (550 5.1.1): they are suppressed.
    """

    def __init__(self, message: str, unknown_recipients: list[str] | None = None) -> None:
        super().__init__(message)
        self.unknown_recipients = unknown_recipients or []
