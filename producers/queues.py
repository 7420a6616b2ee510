"""What the queues hold, read without worker code (the HTTP door's status, `ramp status`)."""

from __future__ import annotations

from ses_ramp.config.keys import Keys
from ses_ramp.producers.wire import PRIORITY_STEPS, QUEUES


def queue_depths(client, prefix: str) -> dict[str, int]:
    """Messages waiting in each kind's queue (every priority list kombu keeps for it)."""
    keys = Keys(prefix)
    with client.pipeline(transaction=False) as pipe:
        for q in QUEUES:
            for name in keys.queue_lists(q, PRIORITY_STEPS):
                pipe.llen(name)
        lengths = pipe.execute()
    n = len(PRIORITY_STEPS)
    return {q: sum(lengths[i * n : (i + 1) * n]) for i, q in enumerate(QUEUES)}
