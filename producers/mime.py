"""The MIME message SES receives. Producers size it; the worker sends exactly these bytes."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

from ses_ramp.producers.message import Message


def build_mime(message: Message, from_address: str) -> bytes:
    """Render `message` as RFC 5322 bytes (CRLF line ends). Bcc is not written as a header."""
    mime = EmailMessage(policy=SMTP)
    mime["From"] = from_address
    if message.to:
        mime["To"] = ", ".join(message.to)
    if message.cc:
        mime["Cc"] = ", ".join(message.cc)
    if message.reply_to:
        mime["Reply-To"] = ", ".join(message.reply_to)
    mime["Subject"] = message.subject
    domain = from_address.rpartition("@")[2] or None
    mime["Message-ID"] = make_msgid(idstring=message.id, domain=domain)
    # Lets the SES event stream and support staff trace a delivery back to the ses-ramp message.
    mime["X-Ses-Ramp-Id"] = message.id
    for name, value in message.headers.items():
        mime[name] = value
    if message.text is not None:
        mime.set_content(message.text)
        if message.html is not None:
            mime.add_alternative(message.html, subtype="html")
    else:
        mime.set_content(message.html or "", subtype="html")
    return mime.as_bytes()
