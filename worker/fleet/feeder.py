"""The campaign feeder: turns waiting campaign recipients into queued messages, just ahead of the gate.

A campaign's recipients wait packed in its list (about 60 bytes each). The feeder publishes the next
ones as small campaign messages only while the queue ahead of them is short and today's budget
could take them (at most `RAMP_CAMPAIGN_FEED_WINDOW` ahead), so a million-recipient campaign never
becomes a million Celery messages (about 1.2 KB of envelope each) waiting in Redis for weeks.

Crash safety is the mover's: publish, then trim. A feeder that dies between the two leaves its
lock to expire and the next one publishes those recipients again; their idempotency keys
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
from ses_ramp.producers.campaigns.recipients import unpack
from ses_ramp.producers.message import Kind
from ses_ramp.producers.redis_client import text_hash
from ses_ramp.producers.wire import PRIORITY_STEPS, priority_for, republish
from ses_ramp.worker.budget.store import day_window

log = structlog.get_logger(logger_name="ses_ramp.feeder")

LOCK_S = 60


class Feeder:
    def __init__(self, settings: Settings, client: Any, app: Any, now_ms: Any) -> None:
        self.settings = settings
        self.client = client
        self.app = app
        self.now_ms = now_ms
        self.keys = Keys(settings.key_prefix)
        self.window = settings.campaign_feed_window

    def run_once(self) -> int:
        """Feed every campaign as far as there is room; returns how many recipients were fed."""
        fed = 0
        for raw_id in self.client.zrange(self.keys.campaigns, 0, -1):
            campaign_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            lock = self.client.lock(self.keys.lock(f"feed:{campaign_id}"), timeout=LOCK_S, blocking=False)
            if not lock.acquire():
                continue  # another process feeds it
            try:
                fed += self._feed(campaign_id)
            finally:
                try:
                    lock.release()
                except LockError:
                    pass  # it expired: another feeder may have published these too (duplicates are absorbed)
        return fed

    def room(self, kind: str, priority: int) -> int:
        """How many more recipients of `kind` at `priority` may be queued now."""
        k = self.keys
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hmget(k.day, "date", "cap", "used", "used_tx", "reserve")
            pipe.hmget(k.pause, "all", kind)
            pipe.zcard(k.deferred)
            for name in k.queue_lists(kind, PRIORITY_STEPS[: priority + 1]):
                pipe.llen(name)
            (day, cap, used, used_tx, reserve), paused, deferred, *ahead = pipe.execute()
        queued = sum(ahead) + int(deferred)
        # Refill only once the queue ahead is down to half the window: fewer, fuller passes (each pass
        # costs the worker's main process a few round trips besides the publishes).
        if any(paused) or queued > self.window // 2:
            return 0
        budget = self.window
        today = day_window(self.now_ms(), self.settings.day_timezone)[0].isoformat()
        if (day.decode() if isinstance(day, bytes) else day) == today:  # else the first gate call opens the day
            cap, used, used_tx, reserve = (int(v or 0) for v in (cap, used, used_tx, reserve))
            left = cap - used - (max(0, reserve - used_tx) if kind == Kind.bulk.value else 0)
            budget = min(budget, left)
        return max(0, budget - queued)

    def _feed(self, campaign_id: str) -> int:
        k = self.keys
        meta = text_hash(self.client.hgetall(k.campaign(campaign_id)))
        rcpts = k.campaign_rcpts(campaign_id)
        if not meta or int(meta.get("fed", 0)) >= int(meta.get("total", 0)):
            return 0
        kind = meta.get("kind", Kind.bulk.value)
        head = self.client.lindex(rcpts, 0)
        if head is None:
            return 0
        room = min(self.room(kind, priority_for(Kind(kind), unpack(head).engagement)), self.settings.mover_batch)
        if room <= 0:
            return 0
        entries = self.client.lrange(rcpts, 0, room - 1)
        first, now = int(meta["fed"]), datetime.now(UTC).isoformat()
        waiting: Counter[str] = Counter()
        with self.app.producer_or_acquire() as producer:
            with producer.batch(max_size=len(entries) * 2 + 1):
                for i, raw in enumerate(entries):
                    r = unpack(raw)
                    wire = {"id": f"{campaign_id}-{first + i}", "campaign": campaign_id, "content": meta["content"], "seq": first + i,
                            "to": [r.address], **({"name": r.name} if r.name else {}), **({"merge": r.merge} if r.merge else {}),
                            "kind": kind, "engagement": r.engagement, "created_at": now}
                    republish(self.app, wire, 0, producer)
                    waiting[f"{kind}:{priority_for(Kind(kind), r.engagement)}"] += 1
        # Only after the publish is flushed (see the module's note on a crash here).
        with self.client.pipeline(transaction=True) as pipe:
            pipe.ltrim(rcpts, len(entries), -1)
            pipe.hincrby(k.campaign(campaign_id), "fed", len(entries))
            for field, n in waiting.items():
                pipe.hincrby(k.campaign_waiting, field, -n)
            pipe.execute()
        log.info("campaign_fed", campaign_id=campaign_id, recipients=len(entries), fed=first + len(entries), total=int(meta["total"]))
        return len(entries)

