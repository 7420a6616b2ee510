"""`ramp probation on|off`: the preset for an account SES has put on probation.

On: bulk paused, today's cap lowered to `RAMP_PROBATION_CAP_SHARE`, the breaker's levels multiplied by
`RAMP_PROBATION_RATE_SHARE` (read by `Breaker.thresholds`). Off: each undone, as far as it is still ours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ses_ramp.worker.guards import pause


@dataclass(frozen=True)
class ProbationChange:
    changed: bool  # False: it already was in the asked state
    cap_before: int = 0
    cap_now: int = 0
    rate_share: float = 1.0


def probation_on(runtime) -> ProbationChange:
    settings, keys, client, budget = runtime.settings, runtime.budget.keys, runtime.client, runtime.budget
    if client.hget(keys.breaker, "probation"):
        return ProbationChange(False)
    budget.roll_day()
    cap = int(client.hget(keys.day, "cap"))
    lowered = max(1, int(cap * settings.probation_cap_share))
    snapshot = {
        "rate_share": settings.probation_rate_share, "cap_before": cap, "date": client.hget(keys.day, "date"),
        "bulk_paused_here": pause.pause(client, keys, "bulk", "probation", "account on SES probation", budget.now_ms()),
    }
    client.hset(keys.breaker, "probation", json.dumps(snapshot))
    client.hset(keys.day, "cap", lowered)
    return ProbationChange(True, cap, lowered, settings.probation_rate_share)


def probation_off(runtime) -> ProbationChange:
    keys, client = runtime.budget.keys, runtime.client
    raw = client.hget(keys.breaker, "probation")
    if not raw:
        return ProbationChange(False)
    snapshot = json.loads(raw)
    if client.hget(keys.day, "date") == snapshot["date"]:
        client.hset(keys.day, "cap", snapshot["cap_before"])
    if snapshot["bulk_paused_here"]:
        entry = pause.flags(client, keys).get("bulk")
        if entry and entry.get("by") == "probation":
            pause.resume(client, keys, "bulk")
    client.hdel(keys.breaker, "probation")
    return ProbationChange(True, int(client.hget(keys.day, "cap") or 0), snapshot["cap_before"])


def is_on(runtime) -> bool:
    return bool(runtime.client.hexists(runtime.budget.keys.breaker, "probation"))
