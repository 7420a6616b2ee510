"""The MIME message SES receives. Producers size it; the worker sends exactly these bytes.

Built with the `email.mime` classes and the compat32 policy: the modern header registry costs ~1.7 ms
a message, which would be most of the send path's CPU.
"""

from __future__ import annotations

from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import make_msgid, parseaddr

from ses_ramp.producers.message import Message

_CRLF = compat32.clone(linesep="\r\n")


#: A header line kept as is up to this length; longer ones are folded (RFC 5322 caps a line at 998).
_MAX_PLAIN_LINE = 900


def _encode(value: str, name: str = "") -> str:
    """A header value as wire text: short ASCII kept as is; non-ASCII, or a line that would pass
    RFC 5322's 998 octets, as folded RFC 2047 encoded words (the stdlib's `Header`)."""
    if value.isascii() and "\n" not in value and len(name) + 2 + len(value) <= _MAX_PLAIN_LINE:
        return value
    return Header(value, "utf-8", header_name=name or None).encode(linesep="\r\n")


def _addresses(addresses: list[str]) -> str:
    # Folded between addresses: 50 recipients would otherwise pass RFC 5322's 998-octet line limit.
    return ",\r\n ".join(addresses)


def _text(body: str, subtype: str) -> MIMEText:
    # 7-bit safe on every hop: short-lined ASCII as is; anything else (non-ASCII, or a line over
    # RFC 5322's 998 octets, as minified HTML has) base64-encoded UTF-8.
    plain = body.isascii() and all(len(line) <= 990 for line in body.splitlines())
    return MIMEText(body, subtype, "us-ascii" if plain else "utf-8")


def build_mime(message: Message, from_address: str, extra_headers: dict[str, str] | None = None) -> bytes:
    """Render `message` as RFC 5322 bytes (CRLF line ends). Bcc is not written as a header.

    Our headers are written directly; only the body parts go through the email package (its
    generic header folding was most of the cost)."""
    body: MIMEBase
    if message.text is not None and message.html is not None:
        body = MIMEMultipart("alternative")
        body.attach(_text(message.text, "plain"))
        body.attach(_text(message.html, "html"))
    elif message.text is not None:
        body = _text(message.text, "plain")
    else:
        body = _text(message.html or "", "html")
    # The address's domain, also when From carries a display name ("Shop <news@shop.example>").
    domain = parseaddr(from_address)[1].rpartition("@")[2] or None
    head = [("From", _encode(from_address))]
    if message.to:
        head.append(("To", _addresses([message.formatted(a) for a in message.to])))
    if message.cc:
        head.append(("Cc", _addresses([message.formatted(a) for a in message.cc])))
    if message.reply_to:
        head.append(("Reply-To", _addresses([message.formatted(a) for a in message.reply_to])))
    head.append(("Subject", _encode(message.subject, "Subject")))
    head.append(("Message-ID", make_msgid(idstring=message.id, domain=domain)))
    # Lets the SES event stream and support staff trace a delivery back to the ses-ramp message.
    head.append(("X-Ses-Ramp-Id", message.id))
    head.extend((name, _encode(value, name)) for name, value in message.headers.items())
    if extra_headers:  # List-Id and the RFC 8058 pair, made by the transport (`producers/unsubscribe.py`)
        head.extend(extra_headers.items())
    lines = "".join(f"{name}: {value}\r\n" for name, value in head).encode("ascii")
    return lines + body.as_bytes(policy=_CRLF)


def size_upper_bound(message: Message) -> int:
    """A cheap bound no smaller than len(build_mime(message)): QP/base64 at most ~3x a UTF-8 byte,
    headers and MIME structure at most ~2 kB plus their text twice over."""
    body = sum(len(b.encode()) for b in (message.text, message.html) if b)
    heads = sum(len(k) + len(v.encode()) for k, v in message.headers.items())
    heads += len(message.subject.encode()) + sum(len(a) for a in (*message.to, *message.cc, *message.reply_to))
    return 3 * body + 3 * heads + 2048
