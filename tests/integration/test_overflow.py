"""The overflow route with real workers (issue 23): demand at 10x the dedicated cap. Counted at moto, by
configuration set: the dedicated route stays within its hour allowance and provider caps and carries
the transactional mail first; the rest leaves through the overflow configuration set once it has waited
its kind's RAMP_OVERFLOW_AFTER_S; the account quota binds both routes; nothing goes twice."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import boto3
import pytest

from ses_ramp.producers import Producer
from ses_ramp.worker.budget.store import Gate
from ses_ramp.worker.fleet.reconcile import resolve_unconfirmed
from ses_ramp.worker.guards.events import EventStore
from ses_ramp.worker.ops.exporter import StateCollector
from ses_ramp.worker.ops.status import collect
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.noop import NoopTransport
from tests.helpers import recorded_send_requests, reset_recording, wait_for

OVERFLOW = "ses-ramp-overflow"


@pytest.fixture
def two_routes(settings, moto_ses):
    client = boto3.client("sesv2", region_name=settings.ses_region, endpoint_url=moto_ses.endpoint_url,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    if OVERFLOW not in {c for c in client.list_configuration_sets().get("ConfigurationSets", [])}:
        client.create_configuration_set(ConfigurationSetName=OVERFLOW)
    return settings.model_copy(update={
        "overflow_configuration_set": OVERFLOW, "overflow_after_s": "transactional=1,bulk=2",
        "warmup_start_per_day": 20, "hourly_burst_factor": 12,  # the hour allows 10 of the day's 20
        "transactional_reserve_share": 0.6, "provider_mix": "google=0.5,other=0.5",
    })


def test_demand_at_ten_times_the_cap_goes_out_by_both_routes(two_routes, moto_ses, workers, redis_client):
    s = two_routes
    rt = Runtime.build(s, transport=NoopTransport())
    assert rt.budget.gate("transactional", 1, "opener").code == Gate.NO_DAY
    rt.budget.roll_day()
    rt.budget.store_account_quota(150, 0, 0)  # SES's 24-hour quota: both routes together stay under it
    reset_recording(moto_ses)
    tx = [{"to": [f"tx{i}@{'gmail.com' if i % 2 else 'example.com'}"], "subject": "t", "text": "t", "kind": "transactional"}
          for i in range(6)]
    bulk = [{"to": [f"b{i}@{'gmail.com' if i % 2 else 'example.com'}"], "subject": "b", "text": "b", "kind": "bulk",
             "list": "news", "engagement": (i % 10) / 10} for i in range(194)]
    p = Producer(s)
    ready = p.prepare_many(tx + bulk)
    p.publish_many(ready)
    p.close()
    created = {m.id: m.created_at.timestamp() for m in ready}
    tx_ids = {m.id for m in ready[:6]}
    pool = workers(count=2, concurrency=2, s=s)

    def sends() -> list[dict]:
        return recorded_send_requests(moto_ses)

    wait_for(lambda: len(sends()) >= 150, 90, 0.2, "the account quota's 150 sends")
    k = rt.budget.keys
    # The other 50 wait for the account quota, deferred (a state, not a pause in time).
    wait_for(lambda: redis_client.zcard(k.deferred) == 50, 60, 0.2, "the remaining 50 deferred for the account quota")
    sent = sends()
    assert len(sent) == 150
    ids = [m["mime"]["X-Ses-Ramp-Id"] for m in sent]
    assert len(set(ids)) == len(ids)  # nothing sent twice
    route = {m["mime"]["X-Ses-Ramp-Id"]: m["ConfigurationSetName"] for m in sent}
    dedicated = {i for i, c in route.items() if c == s.configuration_set}
    overflow = {i for i, c in route.items() if c == OVERFLOW}
    assert dedicated | overflow == set(route)
    day = redis_client.hgetall(k.day)
    # The dedicated route: the hour's allowance (10 of 20), each provider within its cap, transactional first.
    assert len(dedicated) == int(day["hour_allow"]) == 10
    assert tx_ids <= dedicated
    by_provider = Counter("google" if m["Destination"]["ToAddresses"][0].endswith("@gmail.com") else "other"
                          for m in sent if m["ConfigurationSetName"] == s.configuration_set)
    for provider, n in by_provider.items():
        assert n <= int(day[f"cap@{provider}"])
    # The overflow route: everything else, each message only after its kind's wait, each within seconds of it.
    assert len(overflow) == 140
    # When each left: the workers' "message" lines (outcome sent, with its route and timestamp).
    sent_at = {}
    for line in pool.logs().splitlines():
        if '"event": "message"' in line and '"outcome": "sent"' in line:
            entry = json.loads(line[line.index("{"):])
            sent_at[entry["message_id"]] = (entry["route"], datetime.fromisoformat(entry["timestamp"]).timestamp())
    assert {i for i, (r, _) in sent_at.items() if r == OVERFLOW} == overflow
    waits = {kind: [at - created[i] for i, (r, at) in sent_at.items() if r == OVERFLOW and (i in tx_ids) == (kind == "tx")]
             for kind in ("tx", "bulk")}
    assert waits["tx"] == [] and len(waits["bulk"]) == 140
    assert min(waits["bulk"]) >= 2.0  # bulk=2: none left by overflow before it had waited its 2 s
    assert max(waits["bulk"]) < 30  # and none waited for the dedicated IP's next hour (55+ minutes away)
    # The day's counters say the same, by route; the account's counter holds both.
    assert int(day["sent"]) == 10 and int(day["ov_sent"]) == 140 and int(day["acct_used"]) == 150
    # Status and metrics say the same, by route (the figures come from the same plain function).
    overflow_today = collect(rt)["overflow"]
    assert overflow_today["dedicated_sent"] == 10 and overflow_today["overflow_sent"] == 140
    assert overflow_today["dedicated_share"] == round(10 / 150, 4)
    gauges = {(m.name, tuple(s.labels.values())): s.value for m in StateCollector(rt).collect() for s in m.samples}
    assert gauges[("ses_ramp_sent_today", ("dedicated",))] == 10 and gauges[("ses_ramp_sent_today", ("overflow",))] == 140


def test_the_gate_routes_transactional_to_overflow_after_its_wait_and_books_each_route_apart(two_routes, redis_client):
    """One gate call decides: a transactional message the full dedicated day refuses waits at most its 1 s,
    then is reserved on the overflow route (the dedicated counters untouched); a retried call after a lost
    reply finds its own overflow claim; a refund gives back only the overflow route's and the account's."""
    from tests.helpers import set_clock

    s = two_routes
    rt = Runtime.build(s, transport=NoopTransport())
    assert rt.budget.gate("transactional", 1, "opener").code == Gate.NO_DAY
    rt.budget.roll_day()
    rt.budget.store_account_quota(1000, 0, 0)
    k, hour_allow = rt.budget.keys, int(redis_client.hget(rt.budget.keys.day, "hour_allow"))
    for i in range(hour_allow):  # the dedicated route's hour, used up
        assert rt.budget.gate("transactional", 1, f"d{i}", "t", "other=1").code == Gate.GO
    created_ms = rt.budget.now_ms()
    refused = rt.budget.gate("transactional", 1, "late", "tok", "other=1", overflow_at_ms=created_ms + 1000)
    assert refused.code == Gate.HOUR and 0 < refused.wait_ms <= 1000  # waits for the dedicated IP at most its 1 s
    set_clock(rt, datetime.fromtimestamp((created_ms + 1500) / 1000).astimezone())
    routed = rt.budget.gate("transactional", 1, "late", "tok", "other=1", overflow_at_ms=created_ms + 1000)
    assert routed.code == Gate.OVERFLOW
    assert rt.budget.gate("transactional", 1, "late", "tok", "other=1", overflow_at_ms=created_ms + 1000).code == Gate.OVERFLOW
    day = redis_client.hgetall(k.day)
    assert int(day["used"]) == hour_allow and int(day["hour_used"]) == hour_allow  # the dedicated route: unchanged
    assert int(day["ov_used"]) == 1 and int(day["ov_used_tx"]) == 1 and int(day["ov_used@other"]) == 1
    assert int(day["acct_used"]) == hour_allow + 1  # the account counts both routes
    assert redis_client.get(k.idem("late")).endswith(":tok~o")
    assert rt.budget.settle("deferred", "transactional", 1, routed.detail, "late", token="tok", providers="other=1") == 1
    day = redis_client.hgetall(k.day)
    assert int(day["ov_used"]) == 0 and int(day["ov_used@other"]) == 0 and int(day["ov_deferred"]) == 1
    assert int(day["used"]) == hour_allow and int(day["acct_used"]) == hour_allow
    assert redis_client.get(k.idem("late")) is None


def test_a_worker_that_died_in_an_overflow_send_leaves_it_unconfirmed_on_the_overflow_route(two_routes, redis_client):
    """Crash safety on the overflow route: a claim whose worker died during the SES call is never resent
    blindly. The next delivery finds the overflow claim aged past any live call, keeps the message as
    unconfirmed, and counts it on the overflow route's counters, not the dedicated IP's; the reconciler
    resends it once, and only once the events prove SES never had it."""
    from tests.helpers import set_clock

    s = two_routes
    rt = Runtime.build(s, transport=NoopTransport())
    rt.sender.sleep = lambda _s: None
    assert rt.budget.gate("transactional", 1, "opener").code == Gate.NO_DAY
    rt.budget.roll_day()
    k, hour_allow = rt.budget.keys, int(redis_client.hget(rt.budget.keys.day, "hour_allow"))
    for i in range(hour_allow):
        assert rt.budget.gate("transactional", 1, f"d{i}", "t", "other=1").code == Gate.GO
    p = Producer(s)
    wire = p.prepare({"to": ["x@example.com"], "subject": "s", "text": "t", "kind": "transactional"}).to_wire()
    p.close()
    # A worker claimed it on the overflow route, then died inside its SES call (no settle).
    assert rt.budget.gate("transactional", 1, wire["id"], "dead", "other=1", overflow_at_ms=0).code == Gate.OVERFLOW
    now_s = rt.budget.now_ms() / 1000
    set_clock(rt, datetime.fromtimestamp(now_s + 2 * s.ses_timeout_s + 10).astimezone())
    assert rt.sender.handle(wire).outcome == "unconfirmed"
    day = redis_client.hgetall(k.day)
    assert int(day["ov_unconfirmed"]) == 1 and int(day["ov_used"]) == 1
    assert int(day["used"]) == hour_allow and int(day.get("unconfirmed", 0)) == 0
    assert redis_client.hexists(k.unconfirmed, wire["id"])
    # Only once the events watermark proves SES never had it is it resent, once: the overflow route's
    # charge is given back (not the dedicated IP's), and the resend goes out and is counted a single time.
    EventStore(rt.client, k).note_progress(None, rt.budget.now_ms() + 120_000)
    assert resolve_unconfirmed(rt, 60) == 1 and resolve_unconfirmed(rt, 60) == 0
    day = redis_client.hgetall(k.day)
    assert int(day["ov_unconfirmed"]) == 0 and int(day["ov_used"]) == 0 and int(day["used"]) == hour_allow
    due = rt.deferrals.claim_due(10)
    assert [mid for mid, _ in due] == [wire["id"]]
    rt.deferrals.ack([wire["id"]])
    assert rt.sender.handle(due[0][1]["message"]).outcome == "sent"
    assert rt.sender.handle(due[0][1]["message"]).outcome == "duplicate"
    day = redis_client.hgetall(k.day)
    assert int(day.get("ov_sent", 0)) + int(day.get("sent", 0)) == 1
