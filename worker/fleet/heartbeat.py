"""Heartbeats of the single-purpose processes (`ramp beat`, `ramp events`) for container healthchecks.

A process that is alive and can reach Redis refreshes its key; `ramp health <role>` checks the key
of its own host. A stuck loop or a lost Redis lets the key expire, and the container turns unhealthy.
"""

from __future__ import annotations

import socket
from typing import Any

import redis

from ses_ramp.config.keys import Keys


class Heartbeat:
    def __init__(self, client: redis.Redis, keys: Keys, role: str, ttl_s: int, host: str | None = None) -> None:
        self.client = client
        self.key = keys.heartbeat(role, host or socket.gethostname())
        self.ttl_s = ttl_s

    def beat(self) -> bool:
        self.client.set(self.key, "1", ex=self.ttl_s)
        return False  # a housekeeping duty that never asks for an immediate rerun

    def stop(self) -> None:
        self.client.delete(self.key)

    def alive(self) -> bool:
        return bool(self.client.exists(self.key))


ROLES = ("beat", "events", "worker")


def role_alive(client: redis.Redis, keys: Keys, role: str) -> bool:
    """`ramp health beat|events`: this host's process of `role` refreshed its heartbeat in time."""
    if role not in ("beat", "events"):
        raise ValueError(f"unknown role {role!r}: beat or events")
    return Heartbeat(client, keys, role, ttl_s=1).alive()


def workers_alive_here(app: Any, host: str | None = None, timeout_s: float = 3.0) -> list[str]:
    """`ramp health worker`: the Celery nodes of this host that answer a ping (whatever their
    generated names)."""
    host = host or socket.gethostname()
    replies = app.control.ping(timeout=timeout_s) or []
    return sorted(name for reply in replies for name in reply if name.rpartition("@")[2] == host)

