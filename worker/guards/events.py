"""SES events stored: an event's effects (`event_parse.py`) become Redis counters (rolling windows and the
send day's cohort), suppression and the providers' back-off, counted once however often SQS delivers it.
The SQS loop that feeds this is `fleet/events_loop.py`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import structlog

from ses_ramp.config.keys import Keys
from ses_ramp.producers import known
from ses_ramp.producers.message import normalise_address
from ses_ramp.producers.providers import Known
from ses_ramp.worker.budget import cohorts
from ses_ramp.worker.guards import dedupe
from ses_ramp.worker.guards.event_parse import Effects, effects_of, parse_event
from ses_ramp.worker.lua import record_event_script

log = structlog.get_logger(logger_name="ses_ramp.events")

#: (window seconds, bucket seconds): a 300 s window in 10 s buckets, a 24 h window in 5 min buckets.
WINDOWS = ((300, 10), (86_400, 300))
METRICS = ("sends", "deliveries", "hard_bounces", "soft_bounces", "complaints", "rejects", "delays")
BAD_EVENTS_KEPT = 1000
PROBE_METRICS = ("sends", "deliveries", "hard_bounces", "soft_bounces", "account_suppressed", "rejects", "complaints")
PROBE_KEEP_S = 30 * 86_400


class EventStore:
    """Rolling counters in one Redis hash, bucketed per window (see config/keys.py)."""

    def __init__(self, client, keys: Keys, day_timezone: str = "UTC", known: Known | None = None,
                 overflow_set: str | None = None) -> None:
        self.client = client
        self.overflow_set = overflow_set  # RAMP_OVERFLOW_CONFIGURATION_SET: its events are counted apart
        self.keys = keys
        self.day_timezone = day_timezone
        self.known = known  # domain -> mailbox provider: counts per provider on the send day too
        self._record = record_event_script(client)

    def record(self, fx: Effects, now_ms: int) -> str:
        """Store `fx` once: "counted", "duplicate" (this event was counted before: nothing done) or
        "stale" (a delay for recipients already delivered: counted, but no reason to slow down).
        The check and the writes are one Lua call (record_event.lua): one round trip, atomic."""
        writes = _Writes(self.keys.event_seen(fx.identity), self.keys.delivered(fx.ses_id))
        self._count(writes, fx, now_ms)
        if fx.counts.get("deliveries") and fx.ses_id and fx.addresses:
            writes.sadd(writes.keys[1], *fx.addresses)
            writes.expire(writes.keys[1], dedupe.DELIVERED_TTL_S)
        check = list(fx.addresses) if fx.delay_type and fx.ses_id and fx.addresses else []
        found = self._record(keys=writes.keys, args=[dedupe.SEEN_TTL_S if fx.identity else 0, len(check), *check, *writes.args])
        return found.decode() if isinstance(found, bytes) else str(found)

    def _count(self, pipe: Any, fx: Effects, now_ms: int) -> None:
        # The rolling windows count each event in the bucket of its message's send time, as the day
        # verdict counts it on its send day: a bounce that arrives late lands beside the send it
        # belongs to, so a window's rate is bounces of its sends over its sends. (An event without a
        # readable send time counts when it arrives.)
        sent_s = (fx.mail_ms or now_ms) // 1000
        for metric, n in fx.counts.items():
            for window, bucket in WINDOWS:
                pipe.hincrby(self.keys.events, f"{metric}:{window}:{sent_s - sent_s % bucket}", n)
        # The send day's counts (the day's and the providers' verdicts) judge the dedicated IP on its own
        # mail: the overflow route's are kept beside them, apart. The rolling windows above (the breaker)
        # count both routes: SES suspends the account, not the IP.
        by_provider = Counter(self.known.of(fx.addresses)) if self.known is not None and fx.addresses else None
        cohorts.count(pipe, self.keys, fx.counts, fx.delay_type, fx.mail_ms, self.day_timezone, by_provider,
                      overflow=self.is_overflow(fx), outgoing_ip=fx.outgoing_ip)
        if fx.suppress:
            pipe.sadd(self.keys.suppressed, *(normalise_address(a) for a in fx.suppress))
        for list_id, address in fx.unsubscribe:
            pipe.sadd(self.keys.unsubscribed(list_id), normalise_address(address))
        if fx.probe:  # a probe's sample: its receivers' verdicts judge the rest of its campaign (`fleet/probes.py`)
            for metric in PROBE_METRICS:
                if fx.counts.get(metric):
                    pipe.hincrby(self.keys.campaign_probe(fx.probe), metric, fx.counts[metric])
            pipe.expire(self.keys.campaign_probe(fx.probe), PROBE_KEEP_S)
        for mid in fx.send_ids:
            pipe.set(self.keys.send_event(mid), "1", ex=7 * 86400)

    def is_overflow(self, fx: Effects) -> bool:
        """The event is about mail of the overflow route (its `ses:configuration-set` tag)."""
        return bool(self.overflow_set) and fx.configuration_set == self.overflow_set

    def note_progress(self, newest_mail_ms: int | None, empty_at_ms: int | None) -> None:
        """Advance the watermark (never back): the newest SES event handled, and when the queue was
        last found empty. The reconciler resends an unconfirmed send only once these prove that its
        Send event would have arrived by now (see `fleet/reconcile.py`)."""
        marks = {name: ms for name, ms in (("newest_mail_ms", newest_mail_ms), ("empty_at_ms", empty_at_ms)) if ms}
        if marks:
            self.client.zadd(self.keys.watermark, marks, gt=True)

    def watermark(self) -> dict[str, int | None]:
        found = dict(self.client.zrange(self.keys.watermark, 0, -1, withscores=True))
        return {name: (int(found[name]) if name in found else None) for name in ("newest_mail_ms", "empty_at_ms")}

    def windows(self, now_ms: int, since_ms: int = 0) -> dict[int, dict[str, int]]:
        """Totals per window: {300: {"sends": .., ...}, 86400: {...}}, counting only buckets that
        start at or after `since_ms` (an operator's resume wipes the slate). Prunes expired buckets."""
        now_s, since_s = now_ms // 1000, since_ms // 1000
        totals = {w: dict.fromkeys(METRICS, 0) for w, _ in WINDOWS}
        stale = []
        for name, value in self.client.hgetall(self.keys.events).items():
            metric, window, start = name.rsplit(":", 2)
            window, start = int(window), int(start)
            bucket = dict(WINDOWS)[window]
            if start + bucket <= now_s - window:
                stale.append(name)
            elif metric in totals[window] and start + bucket > since_s:
                totals[window][metric] += int(value)
        if stale:
            self.client.hdel(self.keys.events, *stale)
        return totals


class _Writes:
    """The pipe-like recorder `_count` and `cohorts.count` write to: it turns their calls into
    record_event.lua's KEYS and ARGV, so the whole event is stored in that one call."""

    def __init__(self, seen: str, delivered: str) -> None:
        self.keys: list[str] = [seen, delivered]
        self.args: list[Any] = []
        self._index = {seen: 1, delivered: 2}

    def _add(self, command: str, key: str, *args: Any) -> None:
        if key not in self._index:
            self.keys.append(key)
            self._index[key] = len(self.keys)
        self.args.extend([command, self._index[key], len(args), *args])

    def hincrby(self, key: str, field: str, n: int) -> None:
        self._add("HINCRBY", key, field, n)

    def sadd(self, key: str, *members: str) -> None:
        self._add("SADD", key, *members)

    def set(self, key: str, value: str, ex: int) -> None:
        self._add("SET", key, value, "EX", ex)

    def expire(self, key: str, seconds: int) -> None:
        self._add("EXPIRE", key, seconds)


def apply_event(store: EventStore, budget, event: dict[str, Any], now_ms: int | None = None) -> Effects:
    """Store one parsed SES event's effects: counters (by send day and send time), suppression,
    unsubscriptions, Send marks; a delay or soft bounce also backs the adaptive rate off.
    Raises MalformedEvent for an event of a known type missing what it needs."""
    fx = effects_of(event)
    now = budget.now_ms() if now_ms is None else now_ms
    if fx.counts.get("deliveries") and fx.addresses:
        known.remember(store.client, store.keys, fx.addresses, fx.mail_ms or now)  # idempotent: before the dedupe
    if store.record(fx, now) != "counted":
        return fx  # counted before, or a delay its delivery has overtaken: no back-off (dedupe.py)
    if fx.deferral and not store.is_overflow(fx):  # the shared pool's receivers say nothing of the warming IP
        # Receivers deferring judge the IP for their own provider: with per-provider ramps only those
        # providers' rates are cut, the others' mail keeps its pace.
        providers = sorted(set(budget.known.of(fx.addresses))) if budget.known is not None and fx.addresses else [""]
        for provider in providers:
            budget.back_off(provider)
    return fx


def handle_body(store: EventStore, budget, body: str, now_ms: int | None = None) -> Effects:
    """One SQS message of the events queue (an SES event, SNS-wrapped or raw), stored: what
    `ramp events` does with each message it receives, and what `ramp simulate` feeds its events
    through. Raises MalformedEvent before storing anything when the body cannot be read."""
    return apply_event(store, budget, parse_event(body), now_ms)


def rates(totals: dict[str, int]) -> dict[str, float]:
    sends = totals["sends"]
    return {
        "sends": sends,
        "bounce_rate": totals["hard_bounces"] / sends if sends else 0.0,
        "complaint_rate": totals["complaints"] / sends if sends else 0.0,
    }
