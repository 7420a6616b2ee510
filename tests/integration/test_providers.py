"""Which mailbox provider judges each recipient: the built-in table, settings, and MX records read
from a real DNS server on loopback (dnslib), cached in Redis for the record's TTL."""

from __future__ import annotations

import pytest
from dnslib import MX, QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSServer

from ses_ramp.config.keys import Keys
from ses_ramp.producers.providers import NOMAIL, Classifier, Known, from_mx, from_table
from ses_ramp.worker.ops.embedded import free_port


class MxZone(BaseResolver):
    """MX records by domain; `a`: domains with an address record; `missing`: domains that do not exist
    (NXDOMAIN). Any other name exists and has no record of the type asked (NOERROR, no answer)."""

    def __init__(self, mx: dict[str, list[tuple[int, str]]], ttl: int, a: set[str] = frozenset(), missing: set[str] = frozenset()) -> None:
        self.mx, self.ttl, self.a, self.missing, self.asked = mx, ttl, a, missing, []

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        self.asked.append(name)
        if name in self.missing:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.MX:
            for preference, host in self.mx.get(name, []):
                reply.add_answer(RR(request.q.qname, QTYPE.MX, rdata=MX(host, preference), ttl=self.ttl))
        elif request.q.qtype == QTYPE.A and name in self.a:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("192.0.2.25"), ttl=self.ttl))
        return reply


@pytest.fixture
def mx_server():
    servers = []

    def start(mx: dict[str, list[tuple[int, str]]], ttl: int = 3600, **zone_options) -> tuple[str, MxZone]:
        zone = MxZone(mx, ttl, **zone_options)
        port = free_port()
        server = DNSServer(zone, port=port, address="127.0.0.1", tcp=False)
        server.start_thread()
        servers.append(server)
        return f"127.0.0.1:{port}", zone

    yield start
    for server in servers:
        server.stop()


def test_the_table_knows_the_providers_consumer_domains_and_their_country_variants():
    assert [from_table(d) for d in ("gmail.com", "Hotmail.co.uk", "live.fr", "yahoo.co.jp", "aol.com", "me.com", "acme.example",
                                    "hotmail.example.org")] == ["google", "microsoft", "microsoft", "yahoo", "yahoo", "apple", None, None]
    assert from_table("acme.example", {"acme.example": "microsoft"}) == "microsoft"
    assert from_mx(["acme-example.mail.protection.outlook.com."]) == "microsoft"
    assert from_mx(["aspmx.l.google.com", "alt1.aspmx.l.google.com"]) == "google"
    assert from_mx(["mx.acme.example", "aspmx.l.google.com"]) == "other", "the preferred MX decides"


def test_corporate_domains_are_known_by_their_mx_and_cached_for_its_ttl(settings, redis_client, mx_server):
    ns, zone = mx_server({"acme.example": [(10, "aspmx.l.google.com."), (20, "alt1.aspmx.l.google.com.")],
                          "contoso.example": [(0, "contoso-example.mail.protection.outlook.com.")],
                          "plain.example": [(10, "mx.plain.example.")]}, ttl=7200)
    s = settings.model_copy(update={"dns_nameservers": ns, "provider_domains": {"partner.example": "yahoo"}})
    classifier = Classifier(s, redis_client)
    found = classifier.domains(["acme.example", "Contoso.example", "plain.example", "nowhere.example", "gmail.com", "partner.example"])
    # nowhere.example has no MX and no address record: it accepts no mail (RFC 5321's implicit MX finds nothing).
    assert found == {"acme.example": "google", "contoso.example": "microsoft", "plain.example": "other", "nowhere.example": NOMAIL,
                     "gmail.com": "google", "partner.example": "yahoo"}
    assert sorted(zone.asked) == ["acme.example", "contoso.example", "nowhere.example", "nowhere.example", "nowhere.example",
                                  "plain.example"], "the table needs no DNS; nowhere.example: MX, then A and AAAA"
    keys = Keys(s.key_prefix)
    assert 7100 < redis_client.ttl(keys.provider("acme.example")) <= 7200
    zone.asked.clear()
    assert Classifier(s, redis_client).domains(["acme.example"]) == {"acme.example": "google"}
    assert zone.asked == [], "a second process reads Redis's answer"


def test_dns_that_does_not_answer_makes_the_domain_other_for_a_short_while(settings, redis_client):
    s = settings.model_copy(update={"dns_nameservers": f"127.0.0.1:{free_port()}"})  # nothing listens there
    assert Classifier(s, redis_client).domains(["acme.example"]) == {"acme.example": "other"}
    assert 0 < redis_client.ttl(Keys(s.key_prefix).provider("acme.example")) <= 300


def test_ses_events_are_counted_per_provider_on_their_send_day_and_ramp_status_shows_them(settings, redis_client, mx_server, runtime):
    import json as _json

    from ses_ramp.producers.providers import Classifier, Known
    from ses_ramp.worker.budget import cohorts
    from ses_ramp.worker.guards.events import EventStore, handle_body
    from tests import ses_events
    from tests.helpers import ramp

    ns, _ = mx_server({"acme.example": [(10, "aspmx.l.google.com.")]})
    s = settings.model_copy(update={"dns_nameservers": ns})
    Classifier(s, redis_client).domains(["acme.example"])  # what enqueue does for a domain the table lacks
    store = EventStore(redis_client, Keys(s.key_prefix), s.day_timezone, Known(s, redis_client))
    gmail, corp, msft = "ann@gmail.com", "bob@acme.example", "cy@outlook.com"
    for event in (ses_events.send("m1", [gmail, corp, msft]), ses_events.delivery([gmail, corp]),
                  ses_events.delivery_delay(msft), ses_events.bounce(corp), ses_events.complaint(gmail)):
        handle_body(store, runtime.budget, ses_events.sns(event))
    day = runtime.budget.status()["date"]
    per = cohorts.read_providers(redis_client, Keys(s.key_prefix), day)
    assert {p: (c["sends"], c["deliveries"], c["reputation_delays"], c["hard_bounces"], c["complaints"]) for p, c in per.items()} == {
        "google": (2, 2, 0, 1, 1), "microsoft": (1, 0, 1, 0, 0)}
    assert cohorts.read(redis_client, Keys(s.key_prefix), day)["sends"] == 3, "the totals are unchanged"
    status = _json.loads(ramp(s, "status", "--json").stdout)
    assert status["providers"][day]["microsoft"]["reputation_delays"] == 1
    shown = ramp(s, "status").stdout
    assert "by mailbox provider" in shown and "microsoft" in shown


def test_a_domain_met_in_a_send_or_an_event_is_other_until_the_fleet_duty_looks_it_up(settings, redis_client, mx_server):
    from ses_ramp.producers.providers import Known

    ns, zone = mx_server({"acme.example": [(10, "aspmx.l.google.com.")]})
    s = settings.model_copy(update={"dns_nameservers": ns})
    known = Known(s, redis_client)
    assert known.of(["a@acme.example", "b@gmail.com"]) == ["other", "google"]
    assert zone.asked == [], "no DNS where a send or an event waits"
    assert redis_client.smembers(Keys(s.key_prefix).provider_pending) == {"acme.example"}
    assert Classifier(s, redis_client).resolve_pending() == 1
    assert zone.asked == ["acme.example"] and not redis_client.exists(Keys(s.key_prefix).provider_pending)
    assert Known(s, redis_client).of(["a@acme.example"]) == ["google"]


def test_ramp_status_vdm_says_in_one_line_when_ses_gives_no_vdm_figures(settings, redis_client):
    from tests.helpers import ramp

    done = ramp(settings, "status", "--vdm")  # moto's SES has no VDM: the answer an account without it gets
    lines = [line for line in done.stdout.splitlines() if "SES VDM" in line]
    assert lines == ["SES VDM: 404: HTTP 404 (is Virtual Deliverability Manager enabled?)"]


def test_a_process_remembers_a_bounded_number_of_domains_each_for_its_time(settings, redis_client):
    from ses_ramp.producers.providers import Known

    k = Keys(settings.key_prefix)
    now = [0.0]
    known = Known(settings, redis_client, memory_s=600, clock=lambda: now[0], memory_domains=3)
    redis_client.mset({k.provider(f"d{i}.example"): "google" for i in range(5)})
    assert known.of([f"a@d{i}.example" for i in range(5)]) == ["google"] * 5
    assert len(known._memory) == 3  # the bound holds however many domains it met
    redis_client.mset({k.provider(f"d{i}.example"): "microsoft" for i in range(5)})
    remembered = [d for d in (f"d{i}.example" for i in range(5)) if d in known._memory]
    assert known.of([f"a@{d}" for d in remembered]) == ["google"] * 3  # from memory, no Redis read
    now[0] += 601
    assert known.of([f"a@{d}" for d in remembered]) == ["microsoft"] * 3  # expired: read again


def test_domains_that_accept_no_mail_are_left_out_of_a_campaign_and_a_dns_outage_drops_nobody(settings, redis_client, mx_server):
    """Issue 26: a null MX (RFC 7505), a domain that does not exist, and one with no MX and no address record
    accept no mail: the fleet duty's MX lookups cache them so, and a campaign leaves their recipients out,
    counted. A domain with an address record but no MX takes mail (the implicit MX). A domain not looked up
    yet, or looked up while DNS is down, is kept: enqueue never waits on DNS and never drops on its failure."""
    from ses_ramp.producers import Producer

    ns, _ = mx_server({"nullmx.example": [(0, ".")], "fine.example": [(10, "mx.fine.example.")]},
                      a={"aonly.example"}, missing={"gone.example"})
    s = settings.model_copy(update={"dns_nameservers": ns})
    found = Classifier(s, redis_client).domains(["nullmx.example", "gone.example", "bare.example", "aonly.example", "fine.example"])
    assert found == {"nullmx.example": NOMAIL, "gone.example": NOMAIL, "bare.example": NOMAIL, "aonly.example": "other",
                     "fine.example": "other"}
    down = settings.model_copy(update={"dns_nameservers": f"127.0.0.1:{free_port()}"})  # DNS does not answer
    assert Classifier(down, redis_client).domains(["flaky.example"]) == {"flaky.example": "other"}
    assert Known(s, redis_client).of(["a@nullmx.example"]) == ["other"]  # it judges nothing as a provider
    domains = ["nullmx.example", "gone.example", "bare.example", "aonly.example", "fine.example", "flaky.example", "unseen.example"]
    p = Producer(s)
    try:
        receipt = p.enqueue_campaign({"subject": "s", "text": "t", "list": "news"},
                                     [{"email": f"r@{d}"} for d in domains])
    finally:
        p.close()
    assert (receipt.recipients, receipt.undeliverable, receipt.suppressed) == (4, 3, 0)

