"""Pause flags: persistent, fleet-wide, each recording who paused, why and when."""

from __future__ import annotations

import json
import re
from typing import Any

import redis

from ses_ramp.config.keys import Keys
from ses_ramp.producers.redis_client import text_hash

TARGETS = ("transactional", "bulk", "all")
#: One list's or one campaign's mail alone (`list:news`, `campaign:spring-news`): what a spammy Feedback-ID pauses.
SCOPED = re.compile(r"\A(list|campaign):[A-Za-z0-9._-]{1,64}\Z")


def _check(verb: str, target: str) -> None:
    if target not in TARGETS and not SCOPED.match(target):
        raise ValueError(f"{verb} target must be one of {', '.join(TARGETS)}, list:<id> or campaign:<id>, not {target!r}")


def pause(client: redis.Redis, keys: Keys, target: str, by: str, reason: str, now_ms: int) -> bool:
    """Set the flag; returns False if it was already set (the first pause's record is kept)."""
    _check("pause", target)
    entry = json.dumps({"by": by, "reason": reason, "at_ms": now_ms})
    return bool(client.hsetnx(keys.pause, target, entry))


def resume(client: redis.Redis, keys: Keys, target: str) -> list[str]:
    """Clear `target` (`all` clears the fleet-wide flags; a list's or a campaign's is resumed by name).
    Returns the flags cleared."""
    _check("resume", target)
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
