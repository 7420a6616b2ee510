"""The budget gate on a real Redis: caps, reserve, pacing, rate, refunds, the clock across days."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from botocore.stub import Stubber

from ses_ramp.config import schedule
from ses_ramp.worker.budget.store import Gate, day_window
from ses_ramp.worker.fleet.housekeeping import refresh_account_quota
from ses_ramp.worker.send.transports.ses_api import SesApiTransport
from tests.helpers import set_clock


def go(budget, kind="bulk", n=1, key=None, _seq=[0]):
    _seq[0] += 1
    return budget.gate(kind, n, key or f"k{_seq[0]}")


def open_day(runtime, noon=True):
    tz = ZoneInfo(runtime.settings.day_timezone)
    today = datetime.now(tz).date()
    set_clock(runtime, datetime.combine(today, datetime.min.time(), tz) + timedelta(hours=12 if noon else 0, minutes=1))
    d = go(runtime.budget)
    assert d.code == Gate.NO_DAY
    runtime.budget.roll_day()


def test_first_gate_of_a_day_rolls_it_and_day_one_cap_is_50(runtime):
    open_day(runtime)
    st = runtime.budget.status()
    assert st["cap"] == 50 and st["step"] == 0 and st["transactional_reserve"] == 10


def test_bulk_stops_at_cap_minus_reserve_transactional_uses_all(runtime):
    open_day(runtime)
    results = [go(runtime.budget, "bulk").code for _ in range(60)]
    assert results.count(Gate.GO) == 40 and results[40:] == [Gate.DAY] * 20
    tx = [go(runtime.budget, "transactional").code for _ in range(15)]
    assert tx.count(Gate.GO) == 10 and tx[10:] == [Gate.DAY] * 5


def test_recipients_are_charged_and_refunds_give_budget_back(runtime):
    open_day(runtime)
    d = runtime.budget.gate("transactional", 30, "big")
    assert d.code == Gate.GO
    assert runtime.budget.status()["used"] == 30
    runtime.budget.settle("deferred", "transactional", 30, d.detail, "big")
    st = runtime.budget.status()
    assert st["used"] == 0 and st["deferred_today"] == 30
    # The refund dropped the idempotency claim, so the retry may pass the gate (rate tokens are time, not refunded).
    runtime.client.incrby(runtime.budget.keys.clock_offset_ms, 1000)
    assert runtime.budget.gate("transactional", 30, "big").code == Gate.GO


def test_sent_message_is_a_duplicate_forever_after(runtime):
    open_day(runtime)
    d = runtime.budget.gate("bulk", 1, "once")
    runtime.budget.settle("sent", "bulk", 1, d.detail, "once", "ses-123")
    again = runtime.budget.gate("bulk", 1, "once")
    assert again.code == Gate.DUPLICATE and again.detail == "sent:ses-123"


def test_hourly_pacing_spreads_the_day(runtime):
    runtime.settings = runtime.budget.settings = runtime.settings.model_copy(update={"hourly_burst_factor": 3.0})
    open_day(runtime)
    st = runtime.budget.status()
    assert st["hour_allowance"] == 7  # ceil(50 / 24 * 3)
    codes = [go(runtime.budget, "transactional").code for _ in range(10)]
    assert codes.count(Gate.GO) == 7 and codes[7] == Gate.HOUR
    wait = go(runtime.budget, "transactional").wait_ms
    assert 0 < wait <= 3_600_000
    # Next hour: a fresh allowance, the day's total still counting.
    runtime.client.incrby(runtime.budget.keys.clock_offset_ms, wait)
    assert go(runtime.budget, "transactional").code == Gate.GO
    assert runtime.budget.status()["used"] == 8


def test_rate_limit_is_gcra_with_burst(runtime):
    runtime.budget.settings = runtime.settings.model_copy(update={"rate_per_s": 10, "rate_burst": 3})
    open_day(runtime)
    codes = [go(runtime.budget, "transactional").code for _ in range(4)]
    assert codes == [Gate.GO, Gate.GO, Gate.GO, Gate.RATE]
    wait = go(runtime.budget, "transactional").wait_ms
    assert 0 < wait <= 100
    runtime.client.incrby(runtime.budget.keys.clock_offset_ms, wait)
    assert go(runtime.budget, "transactional").code == Gate.GO


def test_paused_kind_is_refused_without_spending(runtime):
    open_day(runtime)
    runtime.client.hset(runtime.budget.keys.pause, "bulk", json.dumps({"by": "test"}))
    assert go(runtime.budget, "bulk").code == Gate.PAUSED
    assert go(runtime.budget, "transactional").code == Gate.GO
    assert runtime.budget.status()["used"] == 1


def test_midnight_opens_a_new_day_and_advances_after_a_full_healthy_day(runtime):
    tz = ZoneInfo(runtime.settings.day_timezone)
    day1 = datetime(2026, 3, 2, tzinfo=tz)
    set_clock(runtime, day1 + timedelta(hours=23, minutes=59, seconds=58))
    runtime.budget.roll_day()
    used = 0
    while (d := runtime.budget.gate("transactional", 5, f"m{used}")).code == Gate.GO:
        runtime.budget.settle("sent", "transactional", 5, d.detail, f"m{used}", "x")
        used += 5
    assert used == 50 and d.code == Gate.DAY and d.wait_ms <= 2000
    # SES's events for the day's 50 recipients: sent and delivered (the verdict rests on them).
    from ses_ramp.worker.guards.events import Effects, EventStore

    EventStore(runtime.client, runtime.budget.keys).record(
        Effects(counts={"sends": 50, "deliveries": 50}, mail_ms=int((day1 + timedelta(hours=23)).timestamp() * 1000)), runtime.budget.now_ms())
    set_clock(runtime, day1 + timedelta(days=1, seconds=1))
    assert go(runtime.budget, "transactional").code == Gate.NO_DAY
    runtime.budget.roll_day()
    st = runtime.budget.status()
    # 45 days over 18 steps: step 0 is held 2 days, so one healthy day keeps cap 50.
    assert st["date"] == "2026-03-03" and st["cap"] == 50 and st["used"] == 0 and st["sending_days"] == 1
    history = json.loads(runtime.client.lindex(runtime.budget.keys.history, 0))
    assert history["date"] == "2026-03-02" and history["verdict"] == "advance"


def test_idle_gap_of_15_days_cools_the_ip_down(runtime):
    tz = ZoneInfo(runtime.settings.day_timezone)
    runtime.client.hset(runtime.budget.keys.ramp, mapping=schedule.RampState(step=10, sending_days=25, last_sending_date=datetime(2026, 5, 1).date()).to_redis())
    set_clock(runtime, datetime(2026, 5, 17, 9, tzinfo=tz))  # 15 idle days: May 2..16
    runtime.budget.roll_day()
    st = runtime.budget.status()
    cfg = runtime.budget.cfg
    assert st["cooled_down"] and st["step"] == 5 and st["cap"] == schedule.step_caps(cfg)[5]
    assert st["idle_days"] == 15


def test_day_boundary_follows_the_configured_timezone():
    today, start_ms, end_ms = day_window(int(datetime(2026, 3, 29, 0, 30, tzinfo=ZoneInfo("UTC")).timestamp() * 1000), "Europe/Berlin")
    assert str(today) == "2026-03-29" and end_ms - start_ms == 23 * 3600 * 1000  # DST spring-forward day


def test_ses_account_quota_bounds_the_cap(runtime, settings):
    transport = SesApiTransport(settings)
    with Stubber(transport.client) as stub:
        stub.add_response("get_account", {"SendQuota": {"Max24HourSend": 200.0, "SentLast24Hours": 190.0, "MaxSendRate": 2.0}})
        assert refresh_account_quota(runtime.budget, transport, every_s=60)
        stub.assert_no_pending_responses()
    open_day(runtime)
    st = runtime.budget.status()
    assert st["effective_cap"] == 10 and st["ses_account_quota"]["left"] == 10
    assert st["rate_per_s"] == 2.0 and st["rate_why"] == "SES MaxSendRate"
    codes = []
    for i in range(11):
        runtime.client.incrby(runtime.budget.keys.clock_offset_ms, 1000)  # stay clear of the 2/s rate
        codes.append(runtime.budget.gate("transactional", 1, f"a{i}").code)
    assert codes == [Gate.GO] * 10 + [Gate.ACCOUNT]


def test_unlimited_account_quota_minus_one():
    from ses_ramp.worker.budget.window import account_left

    assert account_left({"max_24h": "-1", "sent_24h": "5"}) == -1


def test_bulk_leaves_rate_headroom_for_transactional(runtime):
    runtime.budget.settings = runtime.settings.model_copy(update={"rate_per_s": 10, "rate_burst": 5})
    runtime.budget.tx_headroom = 1
    open_day(runtime)
    bulk = [go(runtime.budget, "bulk").code for _ in range(5)]
    assert bulk == [Gate.GO] * 4 + [Gate.RATE]  # bulk stops one short of the burst...
    assert go(runtime.budget, "transactional").code == Gate.GO  # ...so a transactional message goes at once


def test_a_retried_gate_or_settle_call_is_not_counted_twice(runtime):
    # redis-py re-sends a command whose reply was lost in a reconnect: the scripts must be idempotent.
    open_day(runtime)
    first = runtime.budget.gate("bulk", 3, "retry-me", token="tok-1")
    again = runtime.budget.gate("bulk", 3, "retry-me", token="tok-1")
    assert first.code == again.code == Gate.GO and runtime.budget.status()["used"] == 3
    assert runtime.budget.gate("bulk", 3, "retry-me", token="other").code == Gate.DUPLICATE
    runtime.budget.settle("sent", "bulk", 3, first.detail, "retry-me", "ses-1", token="tok-1")
    runtime.budget.settle("sent", "bulk", 3, first.detail, "retry-me", "ses-1", token="tok-1")
    assert runtime.budget.status()["sent"] == 3
