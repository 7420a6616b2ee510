"""`ramp setup --check` against a real DNS server on loopback (dnslib) and SES's identity as botocore's
Stubber gives it (moto has no DKIM or MAIL FROM status to report)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from dnslib import QTYPE, RR, TXT
from dnslib.server import BaseResolver, DNSServer

from ses_ramp.worker.ops.embedded import free_port
from ses_ramp.worker.ops.readiness import check_domain, resolver_for


class Zone(BaseResolver):
    def __init__(self, txt: dict[str, list[str]]) -> None:
        self.txt = txt

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        if request.q.qtype == QTYPE.TXT:
            for value in self.txt.get(name, []):
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=60))
        return reply


@pytest.fixture
def dns_server():
    servers = []

    def start(txt: dict[str, list[str]]) -> str:
        port = free_port()
        server = DNSServer(Zone(txt), port=port, address="127.0.0.1", tcp=False)
        server.start_thread()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop()


def identity(dkim: str = "SUCCESS", mail_from: str | None = "mail.acme.example", mail_from_status: str = "SUCCESS") -> dict:
    body = {"IdentityType": "DOMAIN", "VerifiedForSendingStatus": True, "VerificationStatus": "SUCCESS",
            "DkimAttributes": {"SigningEnabled": dkim == "SUCCESS", "Status": dkim}}
    if mail_from:
        body["MailFromAttributes"] = {"MailFromDomain": mail_from, "MailFromDomainStatus": mail_from_status,
                                      "BehaviorOnMxFailure": "USE_DEFAULT_VALUE"}
    return body


def run(settings, nameserver: str, answer: dict):
    s = settings.model_copy(update={"from_address": "news@acme.example", "dns_nameservers": nameserver})
    ses = boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ses) as stub:
        stub.add_response("get_email_identity", answer, {"EmailIdentity": "acme.example"})
        return {c.what: c for c in check_domain(s, ses, resolver_for(s))}


def test_a_ready_domain_passes_every_line(settings, dns_server):
    ns = dns_server({"mail.acme.example": ["v=spf1 include:amazonses.com ~all"],
                     "_dmarc.acme.example": ["v=DMARC1; p=quarantine; rua=mailto:dmarc@acme.example"]})
    checks = run(settings, ns, identity())
    assert all(c.ok for c in checks.values()), checks
    assert set(checks) == {"SES identity", "DKIM", "custom MAIL FROM", "SPF", "DMARC"}
    assert "p=quarantine" in checks["DMARC"].detail


def test_each_gap_says_what_to_fix(settings, dns_server):
    ns = dns_server({"acme.example": ["v=spf1 include:_spf.google.com ~all"]})  # no DMARC, SPF without SES
    checks = run(settings, ns, identity(dkim="PENDING", mail_from=None))
    assert not checks["DKIM"].ok and "CNAME" in checks["DKIM"].detail
    assert not checks["custom MAIL FROM"].ok and "mail.acme.example" in checks["custom MAIL FROM"].detail
    assert not checks["SPF"].ok and "amazonses.com" in checks["SPF"].detail
    assert not checks["DMARC"].ok and "v=DMARC1" in checks["DMARC"].detail


def test_dmarc_p_none_passes_with_advice(settings, dns_server):
    ns = dns_server({"mail.acme.example": ["v=spf1 include:amazonses.com -all"], "_dmarc.acme.example": ["v=DMARC1; p=none"]})
    checks = run(settings, ns, identity())
    assert checks["DMARC"].ok and "quarantine" in checks["DMARC"].detail


def test_dns_that_does_not_answer_is_not_ok(settings):
    s_port = free_port()  # nothing listens there
    checks = run(settings, f"127.0.0.1:{s_port}", identity())
    assert not checks["SPF"].ok and "did not answer" in checks["SPF"].detail


def test_ramp_setup_check_through_the_cli(settings, dns_server, moto_ses):
    from tests.helpers import ramp

    ns = dns_server({"example.com": ["v=spf1 include:amazonses.com ~all"], "_dmarc.example.com": ["v=DMARC1; p=reject"]})
    done = ramp(settings.model_copy(update={"dns_nameservers": ns}), "setup", "--check", check=False,
                process=True)  # `services`' subprocess smoke test
    assert done.returncode == 1  # moto's SES has no domain identity for example.com
    lines = done.stdout.splitlines()
    assert any(ln.startswith("FIX  SES identity: SES has no identity for example.com") for ln in lines), done.stdout
    assert "ok   SPF: example.com" in done.stdout and "ok   DMARC: p=reject" in done.stdout
