"""Per-process wiring: one Redis client, scripts, budget, deferral store, transport and sender.

Built lazily after fork (prefork children must not share a parent's sockets).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import redis

from ses_ramp.config import Settings
from ses_ramp.producers.redis_client import redis_from_settings
from ses_ramp.worker.budget.store import Budget
from ses_ramp.worker.lua import Scripts
from ses_ramp.worker.send.deferrals import DeferralStore
from ses_ramp.worker.send.sender import Sender
from ses_ramp.worker.send.transports import make_transport


@dataclass
class Runtime:
    settings: Settings
    client: redis.Redis
    budget: Budget
    deferrals: DeferralStore
    sender: Sender

    @classmethod
    def build(cls, settings: Settings, transport=None, prompt: bool = False) -> Runtime:
        """`prompt`: a client that fails within seconds (operator commands) instead of riding out
        a Redis restart (workers)."""
        client = redis_from_settings(settings, prompt=prompt)
        scripts = Scripts.register(client)
        budget = Budget(settings, client, scripts)
        deferrals = DeferralStore(settings, client, scripts)
        sender = Sender(settings, budget, deferrals, transport or make_transport(settings))
        return cls(settings, client, budget, deferrals, sender)

    def ping(self) -> None:
        """Raise redis' error if Redis does not answer (operator commands check before they act)."""
        self.client.ping()


_runtime: Runtime | None = None
_pid: int | None = None


def get_runtime(settings: Settings) -> Runtime:
    """The process's Runtime; rebuilt in a forked child."""
    global _runtime, _pid
    if _runtime is None or _pid != os.getpid():
        _runtime = Runtime.build(settings)
        _pid = os.getpid()
    return _runtime
