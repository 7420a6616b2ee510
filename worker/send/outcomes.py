"""One classifier: every exception a transport can raise -> a ses-ramp error class.

SES v2 API errors arrive as botocore `ClientError`s (codes below); SMTP replies as smtplib errors
with the literal code. Errors already in our hierarchy pass through.
"""

from __future__ import annotations

import re
import smtplib
import socket

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from ses_ramp.worker.send.errors import Deferred, Misconfigured, Paused, Permanent, QuotaExhausted, RampError, Unconfirmed

_THROTTLED = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
_PAUSED = {
    "SendingPausedException",
    "AccountSuspendedException",
    "AccountSendingPausedException",
    "ConfigurationSetSendingPausedException",
}
_PERMANENT = {
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "BadRequestException",
    "NotFoundException",
    "InvalidParameterValue",
}
_SMTP_DEFERRED = {421, 450, 451, 452, 454}
#: SES's answers that mean "nothing can be sent as configured", whatever the message.
_MISCONFIGURED = {
    "SignatureDoesNotMatch", "InvalidSignatureException", "IncompleteSignature", "UnrecognizedClientException",
    "InvalidClientTokenId", "AccessDenied", "AccessDeniedException", "ExpiredToken", "ExpiredTokenException",
    "MissingAuthenticationToken", "ConfigurationSetDoesNotExistException", "MailFromDomainNotVerifiedException",
}
_NOT_VERIFIED = re.compile(r"not verified", re.I)
_FAILED_IDENTITIES = re.compile(r"identities failed the check in region [\w-]+:\s*(.+)$", re.I | re.S)


def _from_not_verified(text: str, sender: str | None) -> bool:
    """MessageRejected "not verified": the From identity's fault (misconfigured) unless SES names
    only other identities (recipients, in the SES sandbox: that message's own problem)."""
    found = _FAILED_IDENTITIES.search(text)
    if not found or not sender:
        return True
    named = {n.strip().strip(".").lower() for n in found.group(1).split(",")}
    domain = sender.rpartition("@")[2].lower()
    return sender.lower() in named or domain in named
_UNKNOWN_USER = re.compile(r"\b5\.1\.1\b|unknown user|user unknown|no such user", re.I)


def classify(exc: BaseException, recipients: list[str] | None = None, sender: str | None = None) -> RampError:
    """Map `exc` onto Deferred / QuotaExhausted / Paused / Misconfigured / Permanent / Unconfirmed."""
    if isinstance(exc, RampError):
        return exc
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return Misconfigured(f"no usable AWS credentials ({exc}): set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an instance role")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, text = err.get("Code", ""), err.get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if "daily message quota exceeded" in text.lower():
            return QuotaExhausted(f"{code}: {text}")
        if code in _MISCONFIGURED or (code == "NotFoundException" and "configuration set" in text.lower()):
            return Misconfigured(f"{code}: {text}")
        if code == "MessageRejected" and _NOT_VERIFIED.search(text) and _from_not_verified(text, sender):
            return Misconfigured(f"{code}: {text}")
        if code in _THROTTLED or status == 429:
            return Deferred(f"{code}: {text}")
        if code in _PAUSED:
            return Paused(f"{code}: {text}")
        if code in _PERMANENT or 400 <= status < 500:
            return Permanent(f"{code}: {text}")
        return Deferred(f"{code or status}: {text}")  # 5xx from SES: its side, try later
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = {addr: (c, m.decode(errors="replace") if isinstance(m, bytes) else str(m)) for addr, (c, m) in exc.recipients.items()}
        if any(c in _SMTP_DEFERRED or 400 <= c < 500 for c, _ in codes.values()):
            return Deferred("; ".join(f"{c} {m}" for c, m in codes.values()))
        unknown = [a for a, (c, m) in codes.items() if c == 550 and _UNKNOWN_USER.search(m)]
        return Permanent("; ".join(f"{c} {m}" for c, m in codes.values()), unknown)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Misconfigured(f"SES SMTP refused the credentials: {exc.smtp_code} {exc.smtp_error!r}")
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        if code in _SMTP_DEFERRED or 400 <= code < 500:
            if "daily message quota exceeded" in text.lower():
                return QuotaExhausted(f"{code} {text}")
            return Deferred(f"{code} {text}")
        unknown = list(recipients or []) if code == 550 and _UNKNOWN_USER.search(text) else []
        return Permanent(f"{code} {text}", unknown)
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError | socket.timeout | TimeoutError):
        # The request may have reached SES: at-most-once means we must not resend it blindly.
        return Unconfirmed(f"no answer from SES: {exc}")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionError | smtplib.SMTPServerDisconnected | OSError):
        return Deferred(f"SES unreachable: {exc}")
    return Permanent(f"unexpected {type(exc).__name__}: {exc}")
