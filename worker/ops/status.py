"""One dictionary with everything `ramp status` shows."""

from __future__ import annotations

from typing import Any

from ses_ramp.config.keys import Keys
from ses_ramp.producers.wire import PRIORITY_STEPS, QUEUES


def queue_depths(client, prefix: str) -> dict[str, int]:
    keys = Keys(prefix)
    with client.pipeline(transaction=False) as pipe:
        for q in QUEUES:
            for name in keys.queue_lists(q, PRIORITY_STEPS):
                pipe.llen(name)
        lengths = pipe.execute()
    n = len(PRIORITY_STEPS)
    return {q: sum(lengths[i * n : (i + 1) * n]) for i, q in enumerate(QUEUES)}


def collect(runtime) -> dict[str, Any]:
    from ses_ramp.worker.guards.breaker import Breaker
    from ses_ramp.worker.guards.pause import flags

    k = runtime.budget.keys
    data: dict[str, Any] = runtime.budget.status()
    data["queues"] = queue_depths(runtime.client, runtime.settings.key_prefix)
    data.update(runtime.deferrals.counts())
    data["parked"] = {q: runtime.client.llen(k.parked(q)) for q in QUEUES}
    data["paused"] = flags(runtime.client, k)
    breaker = Breaker(runtime.settings, runtime).state()
    data["alarm_state"] = breaker.pop("alarm_state", None)
    data["breaker"] = breaker
    data["suppressed"] = runtime.client.scard(k.suppressed)
    data["bad_events"] = runtime.client.llen(k.bad_events)
    data["probation"] = runtime.client.hexists(k.breaker, "probation")
    return data
