"""The campaign feeder: turns waiting campaign recipients into queued messages, just ahead of the gate.

A campaign's recipients wait packed in its list (about 60 bytes each). The feeder publishes the next
ones, CHUNK consecutive recipients to a task, only while the queue ahead of them is short and today's budget
could take them (at most `RAMP_CAMPAIGN_FEED_WINDOW` ahead; with an overflow route, the window whatever the
dedicated IP's budget, and the recipients' wait counted from the campaign's enqueue), so a million-recipient campaign never
becomes a million Celery messages (about 1.2 KB of envelope each) waiting in Redis for weeks. A
worker sends a chunk's recipients one by one, each through the gate as any message; one that must
wait is deferred on its own (a single campaign message), and the rest of the chunk goes on.

Crash safety is the mover's: publish, then trim. A feeder that dies between the two leaves its
lock to expire and the next one publishes those recipients again (so does a redelivered chunk,
after a worker died in it); their idempotency keys
(`campaign:<id>:<n>`) make the second copy a duplicate the gate refuses, and `release.lua` counts
each recipient once.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.exceptions import LockError

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.config.probe import SAMPLING, ProbePolicy
from ses_ramp.producers.campaigns.recipients import Recipient, chunk, unpack
from ses_ramp.producers.campaigns.store import FEED_LOCK_S
from ses_ramp.producers.message import Kind
from ses_ramp.producers.redis_client import text_hash
from ses_ramp.producers.wire import CAMPAIGN_CHUNK_TASK, priority_for
from ses_ramp.worker.budget.store import day_window

log = structlog.get_logger(logger_name="ses_ramp.feeder")

LOCK_S = FEED_LOCK_S
#: Recipients per published task: one Celery message (about 1.2 KB of envelope, ~0.4 ms of the worker's
#: main process to publish) carries this many consecutive recipients of one priority.
CHUNK = 25


class Feeder:
    def __init__(self, settings: Settings, client: Any, app: Any, now_ms: Any) -> None:
        self.settings = settings
        self.client = client
        self.app = app
        self.now_ms = now_ms
        self.keys = Keys(settings.key_prefix)
        self.window = settings.campaign_feed_window
        self.probe = ProbePolicy.from_settings(settings)

    def run_once(self) -> int:
        """Feed every campaign as far as there is room; returns how many recipients were fed."""
        k = self.keys
        ids = [i.decode() if isinstance(i, bytes) else i for i in self.client.zrange(k.campaigns, 0, -1)]
        if not ids:
            return 0
        with self.client.pipeline(transaction=False) as pipe:
            for campaign_id in ids:
                pipe.hmget(k.campaign(campaign_id), "fed", "settled", "total", "kind")
            metas = pipe.execute()
        # Recipients fed and not yet settled: queued, in a worker's hands, or deferred for budget.
        outstanding = sum(int(fed or 0) - int(settled or 0) for fed, settled, _, _ in metas)
        fed_now = 0
        for campaign_id, (fed, _, total, kind) in zip(ids, metas):
            if int(fed or 0) >= int(total or 0):
                continue
            room = self.room(kind or Kind.bulk.value, outstanding)
            if room <= 0:
                continue
            lock = self.client.lock(k.lock(f"feed:{campaign_id}"), timeout=LOCK_S, blocking=False)
            if not lock.acquire():
                continue  # another process feeds it
            try:
                n = self._feed(campaign_id, min(room, self.settings.mover_batch))
            finally:
                try:
                    lock.release()
                except LockError:
                    pass  # it expired: another feeder may have published these too (duplicates are absorbed)
            outstanding += n
            fed_now += n
        return fed_now

    def room(self, kind: str, outstanding: int) -> int:
        """How many more recipients of `kind` may be fed now, with `outstanding` fed and not settled."""
        k = self.keys
        # Refill only once what is out is down to half the window: fewer, fuller passes (each pass
        # costs the worker's main process a few round trips besides the publishes).
        if outstanding > self.window // 2:
            return 0
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hmget(k.day, "date", "cap", "used", "used_tx", "reserve")
            pipe.hmget(k.pause, "all", kind)
            (day, cap, used, used_tx, reserve), paused = pipe.execute()
        if any(paused):
            return 0
        budget = self.window
        today = day_window(self.now_ms(), self.settings.day_timezone)[0].isoformat()
        # With an overflow route, what the dedicated IP cannot take today goes by overflow: feed the whole window.
        # Otherwise feed only what today's budget could take (no budget open yet: the first gate call opens it).
        if not self.settings.overflow_configuration_set and (day.decode() if isinstance(day, bytes) else day) == today:
            cap, used, used_tx, reserve = (int(v or 0) for v in (cap, used, used_tx, reserve))
            left = cap - used - (max(0, reserve - used_tx) if kind == Kind.bulk.value else 0)
            budget = min(budget, left)
        return max(0, budget - outstanding)

    def _feed(self, campaign_id: str, room: int) -> int:
        k = self.keys
        meta = text_hash(self.client.hgetall(k.campaign(campaign_id)))
        rcpts, sample_key = k.campaign_rcpts(campaign_id), k.campaign_sample(campaign_id)
        if not meta or int(meta.get("fed", 0)) >= int(meta.get("total", 0)):
            return 0
        kind = meta.get("kind", Kind.bulk.value)
        # A probe's sample first, within its share of today's cap; then the recipients that flow as usual.
        today = day_window(self.now_ms(), self.settings.day_timezone)[0].isoformat()
        sample_room = min(room, self._probe_allowance(today)) if meta.get("probe") == SAMPLING else 0
        sample = [unpack(raw) for raw in self.client.lrange(sample_key, 0, sample_room - 1)] if sample_room > 0 else []
        sample_left = self.client.llen(sample_key) if sample else 0
        rest = [unpack(raw) for raw in self.client.lrange(rcpts, 0, room - len(sample) - 1)] if room > len(sample) else []
        entries = sample + rest
        if not entries:
            return 0
        first, now = int(meta["fed"]), datetime.now(UTC).isoformat()
        if self.settings.overflow_configuration_set and meta.get("created_ms"):
            # Its recipients have waited since the campaign was enqueued: RAMP_OVERFLOW_AFTER_S counts from then.
            now = datetime.fromtimestamp(int(meta["created_ms"]) / 1000, UTC).isoformat()
        waiting: Counter[str] = Counter(f"{kind}:{priority_for(Kind(kind), r.engagement)}" for r in entries)
        runs = [(start, rows, True) for start, rows in _chunks(sample, Kind(kind))]
        runs += [(len(sample) + start, rows, False) for start, rows in _chunks(rest, Kind(kind))]
        with self.app.producer_or_acquire() as producer:
            with producer.batch(max_size=2 * len(entries) // CHUNK + 3):
                for start, rows, probing in runs:
                    data = chunk(campaign_id, meta["content"], kind, first + start, now, rows, probe=probing)
                    self.app.send_task(CAMPAIGN_CHUNK_TASK, args=[data], kwargs={"attempt": 0}, producer=producer,
                                       task_id=f"{campaign_id}-{first + start}+{len(rows)}", queue=kind,
                                       priority=priority_for(Kind(kind), rows[0].engagement),
                                       argsrepr=f"<campaign {campaign_id} recipients {first + start}+{len(rows)}>", kwargsrepr="")
        # Only after the publish is flushed (see the module's note on a crash here).
        with self.client.pipeline(transaction=True) as pipe:
            pipe.ltrim(sample_key, len(sample), -1)
            pipe.ltrim(rcpts, len(rest), -1)
            pipe.hincrby(k.campaign(campaign_id), "fed", len(entries))
            for field, n in waiting.items():
                pipe.hincrby(k.campaign_waiting, field, -n)
            if sample:
                pipe.incrby(k.probe_fed(today), len(sample))
                pipe.expire(k.probe_fed(today), 2 * 86_400)
                if len(sample) >= sample_left:  # the sample's last recipient
                    pipe.hsetnx(k.campaign(campaign_id), "probe_fed_ms", self.now_ms())  # the verdict's deadline counts from here
            pipe.execute()
        log.info("campaign_fed", campaign_id=campaign_id, recipients=len(entries), fed=first + len(entries), total=int(meta["total"]),
                 **({"sample": len(sample)} if sample else {}))
        return len(entries)

    def _probe_allowance(self, today: str) -> int:
        """Probe sample recipients any campaign may still be fed today: RAMP_PROBE_DAY_SHARE of the day's cap (the
        last day's while today's is not open yet; the ramp's first cap on a new install)."""
        cap, fed = self.client.hget(self.keys.day, "cap"), self.client.get(self.keys.probe_fed(today))
        return self.probe.day_allowance(int(cap or self.settings.warmup_start_per_day), int(fed or 0))


def _chunks(rows: list[Recipient], kind: Kind) -> list[tuple[int, list[Recipient]]]:
    """(offset, rows) runs of at most CHUNK consecutive recipients of one priority."""
    out: list[tuple[int, list[Recipient]]] = []
    for i, r in enumerate(rows):
        p = priority_for(kind, r.engagement)
        if out and len(out[-1][1]) < CHUNK and priority_for(kind, out[-1][1][0].engagement) == p:
            out[-1][1].append(r)
        else:
            out.append((i, [r]))
    return out
