"""Gmail's own numbers (issue 25): the Postmaster Tools reader, a fleet duty, driven through
google-api-python-client against the library's own `HttpMockSequence` and a real Redis.

The JSON answers follow the API's documented shapes, from the discovery documents google-api-python-client
ships (`googleapiclient/discovery_cache/documents/gmailpostmastertools.v2.json`: QueryDomainStatsResponse ->
DomainStat {metric, date, value: StatisticValue {doubleValue | stringList}}; `...v1.json`: TrafficStats
{ipReputations: [{reputation, sampleIps}], domainReputation, userReportedSpamRatio}), as Google's REST
reference documents them (developers.google.com/workspace/gmail/postmaster/reference/rest)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from googleapiclient.http import HttpMockSequence

from ses_ramp.config.keys import Keys
from ses_ramp.producers import Producer
from ses_ramp.worker.fleet.postmaster import LOOK_BACK_DAYS, PostmasterReader
from ses_ramp.worker.guards.events import EventStore, handle_body
from ses_ramp.worker.guards.postmaster import Postmaster
from ses_ramp.worker.ops.exporter import StateCollector
from ses_ramp.worker.ops.receivers import ses_event
from ses_ramp.worker.ops.status import collect
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.noop import NoopTransport
from tests.helpers import ramp, set_clock

DAY1 = datetime(2027, 3, 1, 0, 0, 1, tzinfo=UTC)
NOT_FOUND = ({"status": "404"}, json.dumps({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}))


def v2_answer(on, spam=None, flagged=()):
    stats = []
    date = {"year": on.year, "month": on.month, "day": on.day}
    if spam is not None:
        stats.append({"name": "domains/example.com/domainStats/a1", "metric": "spam", "date": date, "value": {"doubleValue": spam}})
    if flagged:
        stats.append({"name": "domains/example.com/domainStats/a2", "metric": "fbl", "date": date, "value": {"stringList": {"values": list(flagged)}}})
    return ({"status": "200"}, json.dumps({"domainStats": stats}))


def v1_answer(on, ip_rep=None, domain_rep=None):
    body = {"name": f"domains/example.com/trafficStats/{on:%Y%m%d}"}
    if ip_rep:
        body["ipReputations"] = [{"reputation": ip_rep, "ipCount": "1", "sampleIps": ["192.0.2.10"]}]
    if domain_rep:
        body["domainReputation"] = domain_rep
    return ({"status": "200"}, json.dumps(body))


def answers(today, day_answers):
    """The reader asks v2, then v1, for each of the last LOOK_BACK_DAYS days, yesterday first."""
    seq = []
    for back in range(1, LOOK_BACK_DAYS + 1):
        on = today - timedelta(days=back)
        v2, v1 = day_answers.get(back, (v2_answer(on), NOT_FOUND))
        seq += [v2, v1]
    return seq


@pytest.fixture
def fleet(settings):
    s = settings.model_copy(update={"provider_mix": "google=0.5,other=0.5", "provider_min_sends": 10,
                                    "postmaster_credentials": "/nonexistent/postmaster.json", "postmaster_domains": "example.com",
                                    "rate_per_s": 10_000, "rate_burst": 1000})
    rt = Runtime.build(s, transport=NoopTransport())
    rt.sender.sleep = lambda _s: None
    set_clock(rt, DAY1)
    rt.budget.roll_day()
    return s, rt


def send_clean_day(s, rt, n_each=25):
    """Each provider's share of the day sent, every message delivered (SES's events through the handler)."""
    p = Producer(s)
    stamp = rt.budget.now_ms()
    wires = [p.prepare({"to": [f"r{stamp}-{i}@{domain}"], "subject": "s", "text": "t"}).to_wire()
             for i in range(n_each) for domain in ("gmail.com", "example.com")]
    p.close()
    store = EventStore(rt.client, rt.budget.keys, s.day_timezone, rt.budget.known)
    for w in wires:
        assert rt.sender.handle(w).outcome == "sent"
        for kind in ("Send", "Delivery"):
            handle_body(store, rt.budget, json.dumps(ses_event(kind, rt.budget.now_ms(), w["id"], w["to"])), rt.budget.now_ms())


def next_day(rt, days=1):
    set_clock(rt, DAY1 + timedelta(days=days))
    rt.budget.roll_day()
    return json.loads(rt.client.lindex(rt.budget.keys.history, 0))


def reader(s, rt, seq):
    return PostmasterReader(s, rt, api=lambda: Postmaster(HttpMockSequence(seq)))


def test_a_spam_rate_report_holds_the_google_ramp_at_the_next_roll_over_while_the_others_advance(fleet):
    s, rt = fleet
    send_clean_day(s, rt)
    today = DAY1.date()
    # Gmail reports 0.2% of the day before yesterday's mail as spam (late, as its reports are).
    assert reader(s, rt, answers(today, {2: (v2_answer(today - timedelta(days=2), spam=0.002), NOT_FOUND)})).run_once() == 1
    # What operators see: the figures by the day they describe, beside ses-ramp's own google counts, and metrics.
    reported = (today - timedelta(days=2)).isoformat()
    figures = collect(rt)["postmaster"]
    assert figures["enabled"] and figures["status"]["ok"] and figures["days"][reported]["example.com"]["spam_rate"] == 0.002
    text = " ".join(ramp(s, "status").stdout.split())
    assert f"{reported} example.com spam 0.20%, domain no data, IP no data" in text
    gauges = {m.name: m for m in StateCollector(rt).collect()}
    assert [(x.labels, x.value) for x in gauges["ses_ramp_gmail_spam_rate"].samples] == [
        ({"domain": "example.com", "day": reported}, 0.002)]
    closed = next_day(rt)
    assert closed["verdict@google"] == "hold" and "Gmail spam rate 0.20%" in closed["why@google"]
    assert closed["verdict@other"] == "advance"
    ramp_state = rt.client.hgetall(rt.budget.keys.ramp)  # a hold does not count toward the next step; an advance does
    assert int(ramp_state.get("days_at_step@google", 0)) == 0 and int(ramp_state["days_at_step@other"]) == 1
    # The report counted once: the next clean day advances google too (no new report arrived).
    send_clean_day(s, rt)
    assert next_day(rt, 2)["verdict@google"] == "advance"
    # A report about a day ses-ramp sent on stands beside ses-ramp's own google counts of that day.
    third = (DAY1 + timedelta(days=2)).date()
    assert reader(s, rt, answers(third, {2: (v2_answer(DAY1.date(), spam=0.0004), NOT_FOUND)})).run_once(force=True) == 1
    text = " ".join(ramp(s, "status").stdout.split())
    assert f"{DAY1.date()} example.com spam 0.04%, domain no data, IP no data; ses-ramp's google: 25 sent, 0 complaints" in text


def test_a_spammy_feedback_id_pauses_its_campaign_alone(fleet):
    s, rt = fleet
    p = Producer(s)
    p.enqueue_campaign({"subject": "Spring", "text": "Hello {{ first_name }}", "list": "news"},
                       [{"email": "a@example.com", "first_name": "A"}], campaign_id="spring-news")
    p.close()
    today = DAY1.date()
    seq = answers(today, {1: (v2_answer(today - timedelta(days=1), spam=0.0004, flagged=["spring-news"]), NOT_FOUND)})
    assert reader(s, rt, seq).run_once() == 1
    flags = rt.client.hgetall(rt.budget.keys.pause)
    assert set(flags) == {"campaign:spring-news"}  # not the ramp, not the kind, not the list
    assert "flagged Feedback-ID spring-news as spammy" in json.loads(flags["campaign:spring-news"])["reason"]
    listed = " ".join(ramp(s, "campaigns", "list").stdout.split())
    assert "flagged Feedback-ID spring-news as spammy" in listed and "ramp resume campaign:spring-news" in listed
    # Other bulk mail goes on; the campaign's own is held until a person resumes it.
    p = Producer(s)
    other = p.prepare({"to": ["b@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"}).to_wire()
    p.close()
    assert rt.sender.handle(other).outcome == "sent"


@pytest.mark.parametrize("status", ["403", "429", "500", "503"])
def test_an_api_error_leaves_the_ramp_as_it_was_with_one_line_in_status(fleet, status):
    s, rt = fleet
    send_clean_day(s, rt)
    error = ({"status": status}, json.dumps({"error": {"code": int(status), "message": "nope", "status": "X"}}))
    assert reader(s, rt, [error]).run_once() == 0
    st = json.loads(rt.client.hget(rt.budget.keys.gmail, "status"))
    assert st["ok"] is False and st["line"].startswith(f"Postmaster Tools for example.com: HTTP {status}")
    assert "\n" not in st["line"] and "Traceback" not in st["line"]
    closed = next_day(rt)
    assert closed["verdict@google"] == "advance" and "gmail" not in closed  # nothing judged, nothing lost
    assert not any(f.startswith("day:") for f in rt.client.hkeys(rt.budget.keys.gmail))


def test_a_timeout_is_one_line_and_changes_nothing(fleet):
    s, rt = fleet
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    import httplib2

    endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    try:
        r = PostmasterReader(s, rt, api=lambda: Postmaster(httplib2.Http(timeout=0.5), endpoint=endpoint))
        assert r.run_once() == 0
    finally:
        silent.close()
    st = json.loads(rt.client.hget(rt.budget.keys.gmail, "status"))
    assert st["ok"] is False and "no answer" in st["line"] and "example.com" in st["line"]
    assert rt.client.hget(rt.budget.keys.gmail, "read_on") is None  # tried again later (RETRY_S)


def test_without_credentials_the_reader_is_off_and_status_says_so(settings):
    text = " ".join(ramp(settings, "status").stdout.split())
    assert "Gmail Postmaster Tools off (RAMP_POSTMASTER_CREDENTIALS unset)" in text


def test_no_data_below_gmails_threshold_neither_holds_nor_advances(fleet):
    s, rt = fleet
    send_clean_day(s, rt)
    assert reader(s, rt, answers(DAY1.date(), {})).run_once() == 0
    assert "no data yet" in json.loads(rt.client.hget(Keys(s.key_prefix).gmail, "status"))["line"]
    assert next_day(rt)["verdict@google"] == "advance"  # SES's events alone decide, as before


def test_setup_check_says_whether_postmaster_access_works_for_each_domain(settings):
    from ses_ramp.worker.ops.readiness import check_postmaster

    s = settings.model_copy(update={"postmaster_credentials": "/nonexistent/postmaster.json",
                                    "postmaster_domains": "example.com,other.example"})
    seq = [({"status": "200"}, json.dumps({"name": "domains/example.com", "permission": "OWNER"})),
           ({"status": "403"}, json.dumps({"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}))]
    checks = check_postmaster(s, api=lambda: Postmaster(HttpMockSequence(seq)))
    assert [(c.what, c.ok) for c in checks] == [("Postmaster Tools: example.com", True), ("Postmaster Tools: other.example", False)]
    assert "HTTP 403, permission denied" in checks[1].detail
    unreadable = check_postmaster(s)  # the credentials file is missing: one line, no traceback
    assert len(unreadable) == 1 and not unreadable[0].ok and "RAMP_POSTMASTER_CREDENTIALS /nonexistent/postmaster.json" in unreadable[0].detail
    assert check_postmaster(settings)[0].ok and "off" in check_postmaster(settings)[0].detail

