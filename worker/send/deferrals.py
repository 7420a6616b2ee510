"""Messages that must wait: the due-time sorted set, the mover's claim/ack, backoff, dead letters.

Nothing here sits in a worker's memory: a waiting message is a Redis ZSET member plus its JSON.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import redis

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.worker.lua import Scripts

#: How long a message that met a pause waits before it looks again. A resume brings it forward at once.
PAUSE_RECHECK_S = 30.0


@dataclass(frozen=True)
class Backoff:
    """Exponential delay with full jitter: uniform(0, min(cap, base * factor**(attempt-1))) seconds."""

    base_s: float = 60.0
    factor: float = 2.0
    cap_s: float = 3600.0

    def ceiling_s(self, attempt: int) -> float:
        return min(self.cap_s, self.base_s * self.factor ** max(0, attempt - 1))

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        return (rng or random).uniform(0, self.ceiling_s(attempt))


class DeferralStore:
    def __init__(self, settings: Settings, client: redis.Redis, scripts: Scripts) -> None:
        self.settings = settings
        self.client = client
        self.scripts = scripts
        self.keys = Keys(settings.key_prefix)
        self.backoff = Backoff(settings.retry_base_s, settings.retry_factor, settings.retry_cap_s)

    def _set_keys(self) -> list[str]:
        k = self.keys
        return [k.clock_offset_ms, k.deferred, k.moving, k.payload]

    def defer(self, message: dict[str, Any], attempt: int, delay_s: float, reason: str, error: str = "",
              client: Any = None) -> int:
        """Keep `message` until now + `delay_s`; returns the due time (ms). `client`: a MULTI pipeline to
        queue the call in (the due time is then the pipeline's to read; 0 is returned)."""
        payload = json.dumps({"message": message, "attempt": attempt, "reason": reason, "error": error})
        args = [message["id"], int(delay_s * 1000), payload]
        if client is not None:
            self.scripts.defer(keys=self._set_keys(), args=args, client=client)
            return 0
        return int(self.scripts.defer(keys=self._set_keys(), args=args))

    def claim_due(self, limit: int, lease_ms: int = 30_000) -> list[tuple[str, dict[str, Any]]]:
        flat = self.scripts.claim_due(keys=self._set_keys(), args=[limit, lease_ms])
        return [(flat[i], _decode(flat[i + 1])) for i in range(0, len(flat), 2)]

    def now_ms(self) -> int:
        return int(self.scripts.now(keys=[self.keys.clock_offset_ms]))

    def bring_forward_paused(self, kinds: set[str], batch: int = 500) -> int:
        """After a resume: messages of `kinds` waiting out a pause (reason `paused:*`, due within the
        recheck) are due now, so mail flows at once instead of after PAUSE_RECHECK_S. Only members still in
        the deferred set are moved (`ZADD XX`): one a mover already holds is left to it. Returns how many."""
        now = self.now_ms()
        ids: list[Any] = list(self.client.zrangebyscore(self.keys.deferred, now, now + int(PAUSE_RECHECK_S * 1000) + 1000))
        moved = 0
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            due = [mid for mid, raw in zip(chunk, self.client.hmget(self.keys.payload, chunk)) if raw and _paused(raw, kinds)]
            if due:
                moved += int(self.client.zadd(self.keys.deferred, dict.fromkeys(due, now), xx=True, ch=True) or 0)
        return moved

    def ack(self, ids: list[str]) -> int:
        if not ids:
            return 0
        return int(self.scripts.ack_moved(keys=self._set_keys(), args=ids))

    def dead_letter(self, message: dict[str, Any], attempt: int, error: str, now_ms: int) -> None:
        entry = {"message": message, "attempts": attempt, "error": error, "at_ms": now_ms}
        self.client.hset(self.keys.dead, message["id"], json.dumps(entry))

    def unconfirmed(self, message: dict[str, Any], detail: str, now_ms: int, claim: dict[str, Any] | None = None) -> None:
        """`claim`: kind, n, day, key and token of the charge SES may have used (settled later)."""
        entry = {"message": message, "detail": detail, "at_ms": now_ms, **({"claim": claim} if claim else {})}
        self.client.hset(self.keys.unconfirmed, message["id"], json.dumps(entry))

    def counts(self) -> dict[str, int]:
        k = self.keys
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zcard(k.deferred)
            pipe.zcard(k.moving)
            pipe.hlen(k.dead)
            pipe.hlen(k.unconfirmed)
            deferred, moving, dead, unconfirmed = pipe.execute()
        return {"deferred": deferred + moving, "dead": dead, "unconfirmed": unconfirmed}

    def by_reason(self, limit: int = 10_000) -> dict[str, Any]:
        """Deferred messages per reason (`paused:bulk`, `budget`, `deferred` by a receiver...): counted exactly up to
        `limit` entries; beyond, the counts are of the first `limit` scanned (`complete` False) so a status read
        stays cheap with millions waiting."""
        counts: dict[str, int] = {}
        seen = 0
        for _, raw in self.client.hscan_iter(self.keys.payload, count=1000):
            try:
                reason = str(json.loads(raw).get("reason") or "unknown")
            except ValueError:
                reason = "unreadable"
            counts[reason] = counts.get(reason, 0) + 1
            seen += 1
            if seen >= limit:
                return {"counts": counts, "complete": False, "scanned": seen}
        return {"counts": counts, "complete": True, "scanned": seen}

    def dead_entries(self) -> list[dict[str, Any]]:
        return sorted((json.loads(v) for v in self.client.hvals(self.keys.dead)), key=lambda e: e["at_ms"])

    def dead_size(self) -> dict[str, int]:
        """How many dead letters there are and about how many bytes of Redis they take."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hlen(self.keys.dead)
            pipe.memory_usage(self.keys.dead)
            count, used = pipe.execute()
        return {"dead": int(count), "dead_bytes": int(used or 0)}

    def purge_dead(self, before_ms: int, batch: int = 500) -> int:
        """Delete the dead letters dead-lettered before `before_ms`; returns how many. HSCAN in
        batches, so a large hash never blocks Redis."""
        purged = 0
        old: list[str] = []
        for mid, raw in self.client.hscan_iter(self.keys.dead, count=batch):
            try:
                at_ms = int(json.loads(raw).get("at_ms", 0))
            except (ValueError, TypeError, AttributeError):
                at_ms = 0  # unreadable: as old as can be
            if at_ms < before_ms:
                old.append(mid)
            if len(old) >= batch:
                purged += int(self.client.hdel(self.keys.dead, *old))
                old = []
        if old:
            purged += int(self.client.hdel(self.keys.dead, *old))
        return purged

    def take_dead(self, message_id: str) -> dict[str, Any] | None:
        """Remove and return one dead letter (for `ramp dead retry`)."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hget(self.keys.dead, message_id)
            pipe.hdel(self.keys.dead, message_id)
            raw, _ = pipe.execute()
        return json.loads(raw) if raw else None


def _decode(raw: str) -> Any:
    """A claimed payload: its JSON, or the raw text when it is not JSON (the mover dead-letters it)."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _paused(raw: Any, kinds: set[str]) -> bool:
    entry = _decode(raw)
    message = entry.get("message") or {}
    return str(entry.get("reason", "")).startswith("paused:") and message.get("kind", "transactional") in kinds
