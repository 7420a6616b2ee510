"""The ses-smtp transport against a real SMTP server on loopback (aiosmtpd) speaking STARTTLS + AUTH,
scripted to answer 250, 421, 454 and 550 5.1.1 by recipient."""

import email
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from ses_ramp.producers import Producer
from ses_ramp.worker.ops.embedded import free_port
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.ses_smtp import SesSmtpTransport
from tests.helpers import self_signed

REPLIES = {"ok": None, "slow": "421 4.7.0 Try again later", "throttle": "454 Throttling failure: Maximum sending rate exceeded.",
           "nouser": "550 5.1.1 <nouser@example.com>: Recipient address rejected: User unknown"}


class ScriptedHandler:
    def __init__(self):
        self.delivered = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = REPLIES.get(address.split("@")[0])
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.delivered.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        if any(r.startswith("vanish@") for r in envelope.rcpt_tos):
            server.transport.close()  # the message arrived; the answer never leaves
        return f"250 Ok 0100018c-smtp-{len(self.delivered)}"


def authenticator(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=auth_data.login == b"AKIAEXAMPLE" and auth_data.password == b"smtp-secret")


@pytest.fixture
def smtp_server(tmp_path):
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = ScriptedHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=authenticator, auth_required=True)
    controller.start()
    yield handler, port, cert
    controller.stop()


@pytest.fixture
def smtp_runtime(settings, smtp_server, redis_client):
    handler, port, cert = smtp_server
    s = settings.model_copy(update={"transport": "ses-smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_username": "AKIAEXAMPLE",
                                    "smtp_password": "smtp-secret", "smtp_ca_file": str(cert)})
    from pydantic import SecretStr

    s = s.model_copy(update={"smtp_password": SecretStr("smtp-secret")})
    rt = Runtime.build(s, transport=SesSmtpTransport(s))
    return rt, handler


def msg(rt, to):
    return Producer(rt.settings).prepare({"to": [to], "subject": f"to {to}", "text": "hello", "kind": "transactional"}).to_wire()


def test_250_is_sent_with_ses_headers(smtp_runtime):
    rt, handler = smtp_runtime
    w = msg(rt, "ok@example.com")
    out = rt.sender.handle(w)
    assert out.outcome == "sent" and out.ses_id == "0100018c-smtp-1"
    sender, rcpts, content = handler.delivered[0]
    assert rcpts == ["ok@example.com"]
    assert b"X-SES-CONFIGURATION-SET: ses-ramp" in content and f"message_id={w['id']}".encode() in content
    assert email.message_from_bytes(content)["Feedback-ID"] == "direct:nolist:transactional:ses-ramp"
    assert rt.budget.status()["sent"] == 1


@pytest.mark.parametrize("local", ["slow", "throttle"])
def test_421_and_454_are_deferred_never_dropped(smtp_runtime, local):
    rt, handler = smtp_runtime
    w = msg(rt, f"{local}@example.com")
    assert rt.sender.handle(w).outcome == "deferred"
    assert rt.client.zscore(rt.budget.keys.deferred, w["id"]) is not None
    assert rt.budget.status()["used"] == 0 and handler.delivered == []


def test_550_5_1_1_is_permanent_and_suppresses_the_address(smtp_runtime):
    rt, handler = smtp_runtime
    w = msg(rt, "nouser@example.com")
    assert rt.sender.handle(w).outcome == "dead"
    assert rt.client.sismember(rt.budget.keys.suppressed, "nouser@example.com")
    from ses_ramp.producers import SuppressedRecipient

    with pytest.raises(SuppressedRecipient):
        Producer(rt.settings).prepare({"to": ["nouser@example.com"], "subject": "s", "text": "t"})
    # The connection survives the refusal: the next message goes out on it.
    assert rt.sender.handle(msg(rt, "ok@example.com")).outcome == "sent"


def test_a_disconnect_after_data_is_unconfirmed_never_retried(smtp_runtime):
    """SES may have a message whose DATA went out and whose answer was lost: it is kept as unconfirmed
    (charge kept, no attempt refunded, not in the deferred set), exactly as the API path does."""
    rt, handler = smtp_runtime
    w = msg(rt, "vanish@example.com")
    out = rt.sender.handle(w)
    assert out.outcome == "unconfirmed" and "after DATA" in out.detail
    assert len(handler.delivered) == 1  # the server did get it: a retry would have sent it twice
    assert rt.client.hexists(rt.budget.keys.unconfirmed, w["id"])
    assert rt.client.zscore(rt.budget.keys.deferred, w["id"]) is None
    assert rt.budget.status()["used"] == 1
    assert rt.sender.handle(msg(rt, "ok@example.com")).outcome == "sent"  # a fresh connection for the next

