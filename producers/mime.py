"""The MIME message SES receives. Producers size it; the worker sends exactly these bytes.

Built with the `email.mime` classes and the compat32 policy: the modern header registry costs ~1.7 ms
a message, which would be most of the send path's CPU.
"""

from __future__ import annotations

from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import make_msgid

from ses_ramp.producers.message import Message

_CRLF = compat32.clone(linesep="\r\n")


def _header(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


def _text(body: str, subtype: str) -> MIMEText:
    # 7-bit safe on every hop: ASCII as is, anything else base64-encoded UTF-8.
    return MIMEText(body, subtype, "us-ascii" if body.isascii() else "utf-8")


def build_mime(message: Message, from_address: str) -> bytes:
    """Render `message` as RFC 5322 bytes (CRLF line ends). Bcc is not written as a header."""
    if message.text is not None and message.html is not None:
        mime = MIMEMultipart("alternative")
        mime.attach(_text(message.text, "plain"))
        mime.attach(_text(message.html, "html"))
    elif message.text is not None:
        mime = _text(message.text, "plain")
    else:
        mime = _text(message.html or "", "html")
    mime["From"] = from_address
    if message.to:
        mime["To"] = ", ".join(message.to)
    if message.cc:
        mime["Cc"] = ", ".join(message.cc)
    if message.reply_to:
        mime["Reply-To"] = ", ".join(message.reply_to)
    mime["Subject"] = _header(message.subject)
    domain = from_address.rpartition("@")[2] or None
    mime["Message-ID"] = make_msgid(idstring=message.id, domain=domain)
    # Lets the SES event stream and support staff trace a delivery back to the ses-ramp message.
    mime["X-Ses-Ramp-Id"] = message.id
    for name, value in message.headers.items():
        mime[name] = _header(value)
    return mime.as_bytes(policy=_CRLF)


def size_upper_bound(message: Message) -> int:
    """A cheap bound no smaller than len(build_mime(message)): QP/base64 at most ~3x a UTF-8 byte,
    headers and MIME structure at most ~2 kB plus their text twice over."""
    body = sum(len(b.encode()) for b in (message.text, message.html) if b)
    heads = sum(len(k) + len(v.encode()) for k, v in message.headers.items())
    heads += len(message.subject.encode()) + sum(len(a) for a in (*message.to, *message.cc, *message.reply_to))
    return 3 * body + 3 * heads + 2048
