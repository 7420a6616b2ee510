"""The day roll-over against a real Redis: atomic under concurrent counting, probation that lasts."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ses_ramp.config import schedule
from ses_ramp.worker.guards.probation import probation_off, probation_on
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.noop import NoopTransport
from tests.helpers import set_clock

START = datetime(2027, 3, 1, 12, tzinfo=ZoneInfo("UTC"))


def test_roll_while_events_count_loses_nothing(settings, runtime):
    """A thread counts bounces on today's hash (as `ramp events` does) while other processes roll the
    day over and over: every increment ends in exactly one day, the old one's history or the new one."""
    set_clock(runtime, START)
    runtime.budget.roll_day()
    stop = threading.Event()
    counted = [0]

    def count() -> None:
        client = Runtime.build(settings, transport=NoopTransport()).client
        while not stop.is_set():
            client.hincrby(runtime.budget.keys.day, "bounces", 1)
            counted[0] += 1

    rollers = [Runtime.build(settings, transport=NoopTransport()) for _ in range(3)]
    counter = threading.Thread(target=count)
    counter.start()
    try:
        for day in range(1, 31):
            set_clock(runtime, START + timedelta(days=day))
            threads = [threading.Thread(target=r.budget.roll_day) for r in rollers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        stop.set()
        counter.join()
    history = [json.loads(h) for h in runtime.client.lrange(runtime.budget.keys.history, 0, -1)]
    assert len(history) == 30, "each day closed exactly once"
    in_history = sum(int(h.get("bounces", 0)) for h in history)
    today = int(runtime.client.hget(runtime.budget.keys.day, "bounces") or 0)
    assert counted[0] > 1000
    assert in_history + today == counted[0]


def test_probation_holds_across_midnight_until_off(settings, runtime):
    s = settings.model_copy(update={"warmup_start_per_day": 1000, "warmup_target_per_day": 50_000})
    rt = Runtime.build(s, transport=NoopTransport())
    set_clock(rt, START)
    assert probation_on(rt).cap_now == 500
    for day in (1, 2, 3):
        set_clock(rt, START + timedelta(days=day))
        rt.budget.roll_day()
        state = schedule.RampState.from_redis(rt.client.hgetall(rt.budget.keys.ramp))
        expected = int(schedule.cap_for(rt.budget.cfg, state) * s.probation_cap_share)
        assert int(rt.client.hget(rt.budget.keys.day, "cap")) == expected, f"day {day}: probation still cuts the cap"
    change = probation_off(rt)
    state = schedule.RampState.from_redis(rt.client.hgetall(rt.budget.keys.ramp))
    assert change.cap_now == schedule.cap_for(rt.budget.cfg, state) == int(rt.client.hget(rt.budget.keys.day, "cap"))
    set_clock(rt, START + timedelta(days=4))
    rt.budget.roll_day()
    state = schedule.RampState.from_redis(rt.client.hgetall(rt.budget.keys.ramp))
    assert int(rt.client.hget(rt.budget.keys.day, "cap")) == schedule.cap_for(rt.budget.cfg, state)
