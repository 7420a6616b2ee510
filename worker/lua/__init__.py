"""Loads the Lua scripts under `lua/` once and registers them with redis-py (EVALSHA, reload on NOSCRIPT)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

import redis
from redis.commands.core import Script

_PKG = "ses_ramp.worker.lua"


#: Scripts that never read the time: the clock prelude (TIME and the offset GET) is not prepended.
_CLOCKLESS = {"settle", "release", "record_event"}


#: Shared Lua functions prepended to the scripts that call them.
_PRELUDES = {"settle": ["_release"], "release": ["_release"]}


def _source(name: str) -> str:
    parts = ([] if name in _CLOCKLESS else ["_clock"]) + _PRELUDES.get(name, []) + [name]
    return "\n".join(files(_PKG).joinpath(f"{part}.lua").read_text() for part in parts)


@dataclass
class Scripts:
    """Every script, registered on one client. KEYS[1] of each is the clock offset key."""

    now: Script
    gate: Script
    settle: Script
    defer: Script
    claim_due: Script
    ack_moved: Script
    aimd: Script
    park_deferred: Script
    release: Script

    @classmethod
    def register(cls, client: redis.Redis) -> Scripts:
        names = ["now", "gate", "settle", "defer", "claim_due", "ack_moved", "aimd", "park_deferred", "release"]
        return cls(**{n: client.register_script(_source(n)) for n in names})


def record_event_script(client: redis.Redis) -> Script:
    """record_event.lua alone, for an events store that needs no other script."""
    return client.register_script(_source("record_event"))
