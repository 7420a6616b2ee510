"""`ramp probation on|off`: the preset for an account SES has put on probation.

On: bulk paused, the day's cap cut to `RAMP_PROBATION_CAP_SHARE` of the schedule's (today's at once,
and every day after at the roll-over, until `off`), the breaker's levels multiplied by
`RAMP_PROBATION_RATE_SHARE` (read by `Breaker.thresholds`). Off: each undone, as far as it is still ours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ses_ramp.worker.budget.dayroll import probation_cap
from ses_ramp.worker.guards import pause


@dataclass(frozen=True)
class ProbationChange:
    changed: bool  # False: it already was in the asked state
    cap_before: int = 0
    cap_now: int = 0
    rate_share: float = 1.0


def _schedule_cap(client: Any, keys: Any) -> int:
    raw = client.hget(keys.day, "schedule_cap") or client.hget(keys.day, "cap")
    return int(raw or 0)


def probation_on(runtime) -> ProbationChange:
    settings, keys, client, budget = runtime.settings, runtime.budget.keys, runtime.client, runtime.budget
    if client.hget(keys.breaker, "probation"):
        return ProbationChange(False)
    budget.roll_day()
    now_ms = budget.now_ms()
    snapshot = {
        "rate_share": settings.probation_rate_share, "cap_share": settings.probation_cap_share, "since_ms": now_ms,
        "bulk_paused_here": pause.pause(client, keys, "bulk", "probation", "account on SES probation", now_ms),
    }
    before = int(client.hget(keys.day, "cap") or 0)
    lowered = probation_cap(_schedule_cap(client, keys), snapshot, settings.probation_cap_share)
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.breaker, "probation", json.dumps(snapshot))
        pipe.hset(keys.day, "cap", lowered)
        pipe.execute()
    return ProbationChange(True, before, lowered, settings.probation_rate_share)


def probation_off(runtime) -> ProbationChange:
    keys, client = runtime.budget.keys, runtime.client
    raw = client.hget(keys.breaker, "probation")
    if not raw:
        return ProbationChange(False)
    snapshot = json.loads(raw)
    before = int(client.hget(keys.day, "cap") or 0)
    restored = _schedule_cap(client, keys)
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.day, "cap", restored)
        pipe.hdel(keys.breaker, "probation")
        pipe.execute()
    if snapshot.get("bulk_paused_here"):
        entry = pause.flags(client, keys).get("bulk")
        if entry and entry.get("by") == "probation":
            pause.resume(client, keys, "bulk")
    return ProbationChange(True, before, restored)


def probation_since_ms(runtime) -> int | None:
    """When probation was turned on, or None when it is off."""
    raw = runtime.client.hget(runtime.budget.keys.breaker, "probation")
    return int(json.loads(raw).get("since_ms", 0)) if raw else None
