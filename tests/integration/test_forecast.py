"""`ramp forecast`: when what waits goes out, checked against the real gate day by day."""

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ses_ramp.config import schedule
from ses_ramp.producers import Producer, forecast
from ses_ramp.worker.budget.store import Gate
from ses_ramp.worker.guards.events import Effects, EventStore
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.noop import NoopTransport
from tests.helpers import ramp, set_clock

RAMP = {"warmup_start_per_day": 100, "warmup_target_per_day": 5000, "warmup_days": 20, "rate_per_s": 1_000_000, "rate_burst": 1000}


def midnight(on, zone: str) -> datetime:
    return datetime.combine(on, datetime.min.time(), ZoneInfo(zone))


def test_the_forecast_is_what_the_real_gate_lets_through_day_by_day(settings, redis_client):
    s = settings.model_copy(update=RAMP)
    rt = Runtime.build(s, transport=NoopTransport())
    start = midnight(datetime(2026, 6, 1).date(), s.day_timezone) + timedelta(hours=9)  # the day is a third gone
    set_clock(rt, start)
    rt.budget.roll_day()
    # 30 recipients already went this morning, 10 of them transactional.
    for i in range(30):
        kind = "transactional" if i < 10 else "bulk"
        d = rt.budget.gate(kind, 1, f"early{i}")
        rt.budget.settle("sent", kind, 1, d.detail, f"early{i}", "x")
    waiting = forecast.Waiting(transactional=[(2, 250)], bulk=[(6, 900), (8, 600)])
    state, today, _ = forecast.read_inputs(rt.client, s)
    plan = forecast.days(schedule.ScheduleConfig.from_settings(s), state, today, s.transactional_reserve_share, waiting)
    assert plan[-1].left == 0 and len(plan) > 3
    left = {"transactional": waiting.total("transactional"), "bulk": waiting.total("bulk")}
    store = EventStore(rt.client, rt.budget.keys, s.day_timezone)
    for n, day in enumerate(plan):
        if n:
            set_clock(rt, midnight(day.on, s.day_timezone) + timedelta(seconds=1))
            rt.budget.roll_day()
        went = {"transactional": 0, "bulk": 0}
        for kind in ("transactional", "bulk"):  # the queues' order: transactional first
            while went[kind] < left[kind]:
                key = f"{day.on}-{kind}-{went[kind]}"
                d = rt.budget.gate(kind, 1, key)
                if d.code != Gate.GO:
                    break
                rt.budget.settle("sent", kind, 1, d.detail, key, "x")
                went[kind] += 1
        assert (went["transactional"], went["bulk"]) == (day.transactional, day.bulk), day
        assert int(rt.client.hget(rt.budget.keys.day, "cap")) == day.cap
        left = {k: left[k] - went[k] for k in left}
        # SES reports every send delivered: the day is healthy and the ramp advances as the forecast assumed.
        sent = int(rt.client.hget(rt.budget.keys.day, "sent"))
        store.record(Effects(counts={"sends": sent, "deliveries": sent}, mail_ms=int((midnight(day.on, s.day_timezone)
                                                                                     + timedelta(hours=12)).timestamp() * 1000)), 0)
    assert left == {"transactional": 0, "bulk": 0}
    # A bulk recipient at the back of the line goes on the plan's last day; the first transactional one today.
    assert forecast.send_date(plan, "bulk", waiting.total("bulk")) == plan[-1].on
    assert forecast.send_date(plan, "transactional", 1) == plan[0].on


def test_ramp_forecast_reads_the_queues_and_the_deferred_set(settings, redis_client):
    s = settings.model_copy(update=RAMP)
    rt = Runtime.build(s, transport=NoopTransport())
    set_clock(rt, midnight(datetime(2026, 6, 1).date(), s.day_timezone) + timedelta(seconds=1))
    rt.budget.roll_day()
    p = Producer(s)
    try:
        # Queues are counted in messages (one recipient each, as bulk to a list always has).
        p.enqueue_many([{"to": [f"t{i}@example.com"], "subject": "s", "text": "t"} for i in range(80)])
        p.enqueue_many([{"to": [f"b{i}@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news",
                         "engagement": 0.9 if i % 2 else 0.1} for i in range(300)])
        deferred = p.prepare({"to": ["d@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"})
    finally:
        p.close()
    rt.deferrals.defer(deferred.to_wire(), 0, 3600, "budget:day")
    days = json.loads(ramp(s, "forecast", "--json").stdout)
    assert sum(d["transactional"] for d in days) == 80 and sum(d["bulk"] for d in days) == 301
    assert days[0]["transactional"] == 80 and days[-1]["left"] == 0
    for d in days:
        assert d["transactional"] + d["bulk"] <= d["cap"]
    text = " ".join(ramp(s, "forecast").stdout.split())
    assert f"the backlog clears on {days[-1]['on']}" in text
    # With an overflow route: what waits beyond the dedicated IP's first day leaves by it (issue 23).
    routed = s.model_copy(update={"overflow_configuration_set": "ses-ramp-overflow"})
    with_overflow = json.loads(ramp(routed, "forecast", "--json").stdout)
    assert with_overflow[0]["overflow"] == 80 + 301 - days[0]["transactional"] - days[0]["bulk"]
    assert all(d["overflow"] == 0 for d in with_overflow[1:])
    text = " ".join(ramp(routed, "forecast").stdout.split())
    assert "recipients leave by it once they have waited 14400 s" in text
    # Today's sends so far by route and provider, as the gate charged them: google's mail past the
    # dedicated IP's room took the overflow route; the forecast shows both and the dedicated share.
    gate = Runtime.build(routed, transport=NoopTransport()).budget
    codes = [gate.gate("bulk", 1, f"g{i}", "t", "google=1", 0).code for i in range(120)]
    dedicated, overflowed = codes.count(Gate.GO), codes.count(Gate.OVERFLOW)
    assert dedicated > 0 and overflowed > 0
    so_far = json.loads(ramp(routed, "forecast", "--json").stdout)[0]["so_far"]
    assert so_far["by_provider"] == {"google": {"dedicated_used": dedicated, "overflow_used": overflowed}}
    text = " ".join(ramp(routed, "forecast").stdout.split())
    assert f"google {dedicated:,} {overflowed:,} {dedicated / (dedicated + overflowed):.1%}" in text


def test_receipts_carry_the_forecast_date_and_bulk_that_would_expire_first_is_refused(settings, redis_client):
    from datetime import date

    import pytest

    from ses_ramp.config.keys import Keys
    from ses_ramp.producers import InvalidMessage

    s = settings.model_copy(update=RAMP)
    rt = Runtime.build(s, transport=NoopTransport())
    set_clock(rt, midnight(date(2026, 6, 1), s.day_timezone) + timedelta(seconds=1))
    rt.budget.roll_day()
    p = Producer(s)
    try:
        bulk = [{"to": [f"b{i}@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"} for i in range(400)]
        receipts = p.enqueue_many(bulk)
        state, today, waiting = forecast.read_inputs(rt.client, s)
        plan = forecast.days(schedule.ScheduleConfig.from_settings(s), state, today, s.transactional_reserve_share, waiting)
        # The last of them goes when the forecast says the 400th bulk recipient goes; the first today.
        assert receipts[0].estimated_send_date == "2026-06-01"
        assert receipts[-1].estimated_send_date == forecast.send_date(plan, "bulk", 400).isoformat() != "2026-06-01"
        assert p.enqueue({"to": ["t@example.com"], "subject": "s", "text": "t"}).estimated_send_date == "2026-06-01"
        late = {"to": ["x@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news",
                "expires_at": "2026-06-02T12:00:00+00:00"}
        with pytest.raises(InvalidMessage, match=r"expires on 2026-06-02 but would go out on 2026-06-0[3-9]"):
            p.enqueue(late)
        assert p.enqueue({**late, "expire_ok": True}).estimated_send_date > "2026-06-02"
        assert int(rt.client.get(Keys(s.key_prefix).expire_ok)) == 1
        assert p.enqueue({**late, "expires_at": "2026-07-01T00:00:00+00:00"}).recipients == 1  # in time: accepted
    finally:
        p.close()


def test_an_unreadable_forecast_never_refuses_or_loses_a_message(settings, redis_client):
    """The estimate is advisory: garbage where the day's budget should be gives no date and no refusal."""
    from ses_ramp.config.keys import Keys
    from ses_ramp.producers.queues import queue_depths

    keys = Keys(settings.key_prefix)
    secs, _ = redis_client.time()
    today = datetime.fromtimestamp(int(secs), ZoneInfo(settings.day_timezone)).date().isoformat()
    redis_client.hset(keys.day, mapping={"date": today, "cap": "not a number", "hour_allow": "x", "start_ms": "y", "end_ms": "z"})
    p = Producer(settings)
    try:
        late = {"to": ["x@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news", "expires_at": "2020-01-02T00:00:00+00:00"}
        receipt = p.enqueue(late)
        assert receipt.estimated_send_date is None
        assert p.enqueue_many([{**late, "to": ["y@example.com"]}])[0].estimated_send_date is None
    finally:
        p.close()
    assert queue_depths(redis_client, settings.key_prefix)["bulk"] == 2


def test_with_an_overflow_route_receipts_say_the_day_the_overflow_wait_ends(settings, redis_client):
    """Issue 23: 400 bulk recipients behind a cap of 50 would wait days for the dedicated IP; with an
    overflow route each goes once it has waited bulk's 4 h: the receipts say so (and 22:00 + 4 h is tomorrow)."""
    s = settings.model_copy(update={**RAMP, "overflow_configuration_set": "ses-ramp-overflow"})
    rt = Runtime.build(s, transport=NoopTransport())
    for at, expected in ((timedelta(hours=9), "2026-06-01"), (timedelta(hours=22), "2026-06-02")):
        set_clock(rt, midnight(date(2026, 6, 1), s.day_timezone) + at)
        if at == timedelta(hours=9):
            rt.budget.roll_day()
        p = Producer(s)
        try:
            bulk = [{"to": [f"b{i}@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"} for i in range(400)]
            receipts = p.enqueue_many(bulk)
            assert {r.estimated_send_date for r in receipts} == {expected}
        finally:
            p.close()
    without = Producer(settings.model_copy(update=RAMP))
    try:
        assert without.enqueue({"to": ["z@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"}
                               ).estimated_send_date > "2026-06-02"  # the dedicated IP's line alone: days away
    finally:
        without.close()
