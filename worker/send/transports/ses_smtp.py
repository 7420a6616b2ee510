"""SES's SMTP interface: smtplib with STARTTLS and SMTP credentials; 421/454/550 arrive literally.

The configuration set and tags travel as SES's own headers (X-SES-CONFIGURATION-SET,
X-SES-MESSAGE-TAGS). One connection per worker process is kept open and re-made when it drops.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable

from ses_ramp.config import Settings
from ses_ramp.producers.message import Message
from ses_ramp.producers.mime import build_mime
from ses_ramp.worker.send.errors import Unconfirmed
from ses_ramp.worker.send.transports.base import added_headers


class SesSmtpTransport:
    name = "ses-smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.host = settings.smtp_host or f"email-smtp.{settings.ses_region}.amazonaws.com"
        self._smtp: smtplib.SMTP | None = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except smtplib.SMTPException:
                pass
            self._close()
        s = self.settings
        smtp = smtplib.SMTP(self.host, s.smtp_port, timeout=s.ses_timeout_s)
        try:
            smtp.ehlo()
            if s.smtp_starttls:
                context = ssl.create_default_context(cafile=s.smtp_ca_file)
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def _close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, message: Message, claim: Callable[[], str]) -> str:
        mime = build_mime(message, message.formatted_from(), added_headers(self.settings, message))
        tags = {"kind": message.kind.value, "message_id": message.id, **message.tags}
        extra = (
            f"X-SES-MESSAGE-TAGS: {', '.join(f'{k}={v}' for k, v in tags.items())}\r\n"
        )
        if message.list_management is not None:  # SES's SMTP form of ListManagementOptions
            lm = message.list_management
            extra += f"X-SES-LIST-MANAGEMENT-OPTIONS: {lm.contact_list}" + (f"; topic={lm.topic}" if lm.topic else "") + "\r\n"
        smtp = self._connection()  # connecting, TLS and AUTH happen before the claim
        extra = f"X-SES-CONFIGURATION-SET: {claim()}\r\n" + extra  # the route the gate chose
        try:
            code, reply = smtp.mail(message.from_address or "")
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, message.from_address or "")
            refused = {}
            for rcpt in message.recipients:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, reply)
            if refused:
                # Any refusal stops the whole message: partial delivery would split one message in two.
                smtp.rset()
                raise smtplib.SMTPRecipientsRefused(refused)
            try:
                code, reply = smtp.data(extra.encode("ascii") + mime)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                # Once DATA was sent, SES may have the message: a lost answer is unconfirmed, never
                # refunded and retried (the API transport treats a read timeout the same way).
                self._smtp = None
                raise Unconfirmed(f"SMTP connection lost after DATA: SES may have the message ({exc})") from exc
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except smtplib.SMTPServerDisconnected:
            self._smtp = None
            raise
        # SES answers "250 Ok <message id>".
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return text.split()[-1] if text.split() else text

    def account_quota(self) -> None:
        return None
