"""When queued mail goes out: day by day, from what waits, today's budget and the ramp ahead.

Pure code (the Redis reads are in `read_inputs`). The model is the gate's own, a day at a time:
transactional mail goes first and may use the whole cap; bulk may use what transactional left, minus
what is left of the transactional reserve; within a kind, lower priority numbers go first and a
priority list is first in, first out (kombu's Redis transport). Today is limited by what is left of
the cap and of the hourly allowance in the hours left; later days get the schedule's cap, assuming
each day is healthy and advances as planned (a held day moves every date later: re-run it).

Campaign recipients not yet fed to the queues are counted from `campaign_waiting`, exactly.
What it does not know: mail enqueued later (new transactional mail takes today's budget first), and
how many recipients each queued message has: the queues are counted in messages (LLEN), one
recipient each, which is exact for bulk to a list (one recipient by rule) and for most transactional
mail; a message to several recipients makes the forecast early. Deferred messages are read whole
(their kind and recipients) by `ramp forecast`.
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ses_ramp.config import Settings, schedule
from ses_ramp.config.keys import Keys
from ses_ramp.producers.redis_client import text_hash
from ses_ramp.producers.wire import PRIORITY_STEPS

KINDS = ("transactional", "bulk")
HORIZON_DAYS = 400


@dataclass(frozen=True)
class Today:
    on: date
    cap: int
    used: int
    used_tx: int
    reserve: int
    room_today: int  # what the cap and the hourly allowance still let through before midnight
    now_ms: int = 0  # when it was read, on the scripts' clock


@dataclass(frozen=True)
class Waiting:
    """Recipients waiting, per kind, in the order they go: [(priority, recipients), ...]."""

    transactional: list[tuple[int, int]] = field(default_factory=list)
    bulk: list[tuple[int, int]] = field(default_factory=list)

    def total(self, kind: str) -> int:
        return sum(n for _, n in getattr(self, kind))

    def ahead_of(self, kind: str, priority: int) -> int:
        """Recipients of `kind` a new message of `priority` waits behind."""
        return sum(n for p, n in getattr(self, kind) if p <= priority)


@dataclass(frozen=True)
class ForecastDay:
    on: date
    cap: int
    transactional: int
    bulk: int
    left: int  # recipients still waiting after this day


def by_overflow(plan: list[ForecastDay], waiting: Waiting, waits_s: dict[str, float | None]) -> dict[str, int]:
    """With an overflow route: recipients of each kind that leave by it, all that waits beyond what the
    dedicated IP takes on the plan's first day (each once it has waited its kind's RAMP_OVERFLOW_AFTER_S;
    a kind whose wait is `never` keeps to the dedicated IP's line)."""
    if not plan:
        return {}
    first = plan[0]
    taken = {"transactional": first.transactional, "bulk": first.bulk}
    return {kind: max(0, waiting.total(kind) - taken[kind]) for kind, wait_s in waits_s.items() if wait_s is not None}


def days(cfg: schedule.ScheduleConfig, state: schedule.RampState, today: Today, reserve_share: float,
         waiting: Waiting, horizon_days: int = 120) -> list[ForecastDay]:
    """Day by day until nothing waits (or `horizon_days`)."""
    tx_left, bulk_left = waiting.total("transactional"), waiting.total("bulk")
    out: list[ForecastDay] = []
    on, cap = today.on, today.cap
    tx_room = max(0, min(today.cap - today.used, today.room_today))
    tx = min(tx_left, tx_room)
    bulk_limit = today.cap - max(0, today.reserve - today.used_tx - tx) - today.used - tx
    bulk = min(bulk_left, max(0, min(tx_room - tx, bulk_limit)))
    tx_left, bulk_left = tx_left - tx, bulk_left - bulk
    out.append(ForecastDay(on, cap, tx, bulk, tx_left + bulk_left))
    for _ in range(horizon_days):
        if tx_left + bulk_left == 0:
            break
        # The day just forecast closes healthy (it used its cap): the ramp moves on as planned.
        state, _ = schedule.close_day(cfg, state, schedule.DayReport(on=on, cap=cap, sent=cap, event_sends=cap, delivered=cap))
        on = on + timedelta(days=1)
        cap = schedule.cap_for(cfg, state)
        reserve = math.floor(cap * reserve_share)
        tx = min(tx_left, cap)
        bulk = min(bulk_left, max(0, cap - tx - max(0, reserve - tx)))
        tx_left, bulk_left = tx_left - tx, bulk_left - bulk
        out.append(ForecastDay(on, cap, tx, bulk, tx_left + bulk_left))
    return out


def send_date(plan: list[ForecastDay], kind: str, position: int) -> date | None:
    """The day the recipient at `position` (1-based) in `kind`'s order goes out, if within the plan."""
    sent = 0
    for d in plan:
        sent += d.transactional if kind == "transactional" else d.bulk
        if sent >= position:
            return d.on
    return None


def read_inputs(client: Any, settings: Settings, exact_deferred: bool = True) -> tuple[schedule.RampState, Today, Waiting]:
    """The forecast's inputs from Redis, on the scripts' clock (Redis TIME plus the test offset).
    `exact_deferred` reads every deferred message's kind and size (an operator's command); without
    it each deferred message counts as one bulk recipient (cheap enough for every enqueue)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    keys = Keys(settings.key_prefix)
    with client.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.get(keys.clock_offset_ms)
        pipe.hgetall(keys.day)
        pipe.hgetall(keys.ramp)
        pipe.zcard(keys.deferred)
        pipe.hgetall(keys.campaign_waiting)
        for q in KINDS:
            for name in keys.queue_lists(q, PRIORITY_STEPS):
                pipe.llen(name)
        answers = pipe.execute()
    (secs, micros), offset, day_raw, ramp_raw, deferred_n, campaign_raw, *lengths = answers
    now_ms = int(secs) * 1000 + int(micros) // 1000 + int(offset or 0)
    zone = ZoneInfo(settings.day_timezone)
    on = datetime.fromtimestamp(now_ms / 1000, zone).date()
    day, state = text_hash(day_raw), schedule.RampState.from_redis(text_hash(ramp_raw))
    cfg = schedule.ScheduleConfig.from_settings(settings)
    if day.get("date") == on.isoformat() and all(day.get(f) for f in ("cap", "hour_allow", "start_ms", "end_ms")):
        cap, used, used_tx, reserve = (int(day.get(f, 0)) for f in ("cap", "used", "used_tx", "reserve"))
        hour_allow, start_ms, end_ms = int(day["hour_allow"]), int(day["start_ms"]), int(day["end_ms"])
        hour_idx = (now_ms - start_ms) // 3_600_000
        hour_used = int(day.get("hour_used", 0)) if int(day.get("hour_idx", -1)) == hour_idx else 0
        hours_left = math.ceil((end_ms - now_ms) / 3_600_000)
        room = max(0, hour_allow - hour_used) + hour_allow * max(0, hours_left - 1)
    else:  # the day has not rolled yet: it opens at the step the ramp stands at
        state, _ = schedule.open_day(cfg, state, on)
        cap = schedule.cap_for(cfg, state)
        used = used_tx = 0
        reserve = math.floor(cap * settings.transactional_reserve_share)
        midnight = datetime.combine(on + timedelta(days=1), datetime.min.time(), zone)
        hours_left = math.ceil((midnight.timestamp() * 1000 - now_ms) / 3_600_000)
        room = max(1, math.ceil(cap / 24 * settings.hourly_burst_factor)) * hours_left
    steps = len(PRIORITY_STEPS)
    queued = {q: [(p, n) for p, n in zip(PRIORITY_STEPS, lengths[i * steps : (i + 1) * steps]) if n] for i, q in enumerate(KINDS)}
    # Campaign recipients not yet fed wait behind what is queued at their priority (the feeder appends them).
    for name, n in text_hash(campaign_raw).items():
        kind, _, priority = name.partition(":")
        if kind in queued and int(n) > 0:
            queued[kind] = sorted([*queued[kind], (int(priority), int(n))])
    deferred = _deferred(client, keys) if exact_deferred else {"bulk": int(deferred_n)}
    # Deferred messages are older than anything queued of their kind: they go first.
    waiting = Waiting(
        transactional=([(-1, deferred["transactional"])] if deferred.get("transactional") else []) + queued["transactional"],
        bulk=([(-1, deferred["bulk"])] if deferred.get("bulk") else []) + queued["bulk"],
    )
    return state, Today(on, cap, used, used_tx, reserve, room, now_ms), waiting


def _deferred(client: Any, keys: Keys) -> dict[str, int]:
    import json

    out = {"transactional": 0, "bulk": 0}
    for _, raw in client.hscan_iter(keys.payload, count=1000):
        try:
            message = json.loads(raw)["message"]
            out["transactional" if message.get("kind") == "transactional" else "bulk"] += len(message.get("to", [])) + \
                len(message.get("cc", [])) + len(message.get("bcc", []))
        except (ValueError, KeyError, TypeError):
            continue
    return out


class ForecastUnavailable(Exception):
    """The forecast's inputs could not be read as expected (not a Redis outage: that raises RedisError)."""


class Estimator:
    """Estimated send dates for what one producer enqueues: a forecast refreshed at most every
    `ttl_s` (one pipelined read), plus what this producer itself enqueued since, in order."""

    def __init__(self, settings: Settings, client: Any, ttl_s: float = 5.0) -> None:
        import threading

        self.settings = settings
        self.client = client
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._taken_at = -1e18
        self._lines: dict[str, list[ForecastDay]] = {}
        self._waiting = Waiting()
        self._added: dict[tuple[str, int], int] = {}
        # Parsed once (read for every receipt); empty without an overflow route.
        self._overflow_waits_s = settings.overflow_waits_s if settings.overflow_configuration_set else {}

    def _fresh(self) -> None:
        import time

        if time.monotonic() - self._taken_at < self.ttl_s:
            return
        try:
            state, today, waiting = read_inputs(self.client, self.settings, exact_deferred=False)
        except (ValueError, TypeError, KeyError) as exc:
            raise ForecastUnavailable(str(exc)) from exc
        cfg = schedule.ScheduleConfig.from_settings(self.settings)
        share = self.settings.transactional_reserve_share
        # Each kind's line, day by day, as if it never ran dry: transactional may take every cap;
        # bulk gets what the transactional mail waiting now and the reserve leave it.
        endless = [(0, 10**15)]
        self._lines = {
            "transactional": days(cfg, state, today, share, Waiting(transactional=endless), horizon_days=HORIZON_DAYS),
            "bulk": days(cfg, state, today, share, Waiting(transactional=waiting.transactional, bulk=endless), horizon_days=HORIZON_DAYS),
        }
        # Cumulative recipients per day of each line, for a binary search per message.
        self._cumulative = {kind: list(itertools.accumulate(d.transactional if kind == "transactional" else d.bulk for d in line))
                            for kind, line in self._lines.items()}
        self._waiting, self._added, self._taken_at = waiting, {}, time.monotonic()
        self._now_ms = today.now_ms

    def estimate(self, kind: str, priority: int, recipients: int, take: bool = False) -> date | None:
        """The day a message of `kind` and `priority` enqueued now would go out (None: beyond
        HORIZON_DAYS). With `take`, it also takes its place in this producer's line (call it so just
        before publishing it; `give_back` if it is refused after all)."""
        with self._lock:
            self._fresh()
            mine = sum(n for (k, p), n in self._added.items() if k == kind and p <= priority)
            position = self._waiting.ahead_of(kind, priority) + mine + recipients
            if take:
                self._added[(kind, priority)] = self._added.get((kind, priority), 0) + recipients
            i = bisect.bisect_left(self._cumulative[kind], position)
            on = self._lines[kind][i].on if i < len(self._lines[kind]) else None
        return self._with_overflow(kind, on)

    def _with_overflow(self, kind: str, on: date | None) -> date | None:
        """With an overflow route, a message goes by the dedicated IP's line or, once it has waited its
        kind's RAMP_OVERFLOW_AFTER_S, by overflow: whichever day comes first."""
        wait_s = self._overflow_waits_s.get(kind)
        if wait_s is None or not self._now_ms:
            return on
        at_s = self._now_ms / 1000 + (time.monotonic() - self._taken_at) + wait_s
        by_overflow = datetime.fromtimestamp(at_s, ZoneInfo(self.settings.day_timezone)).date()
        return by_overflow if on is None else min(on, by_overflow)

    def give_back(self, kind: str, priority: int, recipients: int) -> None:
        with self._lock:
            self._added[(kind, priority)] = self._added.get((kind, priority), 0) - recipients
