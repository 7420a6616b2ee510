"""Pause flags: persistent, fleet-wide, each recording who paused, why and when."""

from __future__ import annotations

import json
from typing import Any

import redis

from ses_ramp.config.keys import Keys
from ses_ramp.producers.redis_client import text_hash

TARGETS = ("transactional", "bulk", "all")


def pause(client: redis.Redis, keys: Keys, target: str, by: str, reason: str, now_ms: int) -> bool:
    """Set the flag; returns False if it was already set (the first pause's record is kept)."""
    if target not in TARGETS:
        raise ValueError(f"pause target must be one of {', '.join(TARGETS)}, not {target!r}")
    entry = json.dumps({"by": by, "reason": reason, "at_ms": now_ms})
    return bool(client.hsetnx(keys.pause, target, entry))


def resume(client: redis.Redis, keys: Keys, target: str) -> list[str]:
    """Clear `target` (`all` clears every flag). Returns the flags cleared."""
    if target not in TARGETS:
        raise ValueError(f"resume target must be one of {', '.join(TARGETS)}, not {target!r}")
    names = list(TARGETS) if target == "all" else [target]
    with client.pipeline(transaction=True) as pipe:
        for name in names:
            pipe.hdel(keys.pause, name)
        removed = pipe.execute()
    return [n for n, r in zip(names, removed) if r]


def flags(client: redis.Redis, keys: Keys) -> dict[str, dict[str, Any]]:
    return {k: json.loads(v) for k, v in text_hash(client.hgetall(keys.pause)).items()}


def paused_queues(current: dict[str, Any]) -> set[str]:
    """Queues no worker should consume while `current` flags are set."""
    if "all" in current:
        return {"transactional", "bulk"}
    return {q for q in ("transactional", "bulk") if q in current}
