"""The staged circuit breaker: warn pauses bulk, trip pauses everything; never resumes by itself.

Inputs: rolling bounce/complaint rates from SES events (300 s and 24 h windows, each only once it
holds `RAMP_BREAKER_MIN_SAMPLE` sends, and each rate only once it counts `RAMP_BREAKER_MIN_EVENTS`
events) and the CloudWatch alarm on Reputation.BounceRate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import structlog

from ses_ramp.config import Settings
from ses_ramp.config.schedule import counted_rate
from ses_ramp.worker.guards import pause
from ses_ramp.worker.guards.events import EventStore, rates

log = structlog.get_logger(logger_name="ses_ramp.breaker")


@dataclass(frozen=True)
class Thresholds:
    bounce_warn: float
    complaint_warn: float
    bounce_trip: float
    complaint_trip: float

    @classmethod
    def of(cls, settings: Settings, factor: float = 1.0) -> Thresholds:
        return cls(settings.bounce_warn_rate * factor, settings.complaint_warn_rate * factor,
                   settings.bounce_trip_rate * factor, settings.complaint_trip_rate * factor)


class Breaker:
    def __init__(self, settings: Settings, runtime, cloudwatch=None) -> None:
        self.settings = settings
        self.runtime = runtime
        self.client = runtime.client
        self.keys = runtime.budget.keys
        self.store = EventStore(runtime.client, self.keys)
        self.cloudwatch = cloudwatch

    def thresholds(self) -> Thresholds:
        """The configured levels, tightened while `ramp probation on` is in force."""
        probation = self.client.hget(self.keys.breaker, "probation")
        factor = json.loads(probation)["rate_share"] if probation else 1.0
        return Thresholds.of(self.settings, factor)

    def evaluate(self) -> str:
        """Check both windows; pause as their rates demand. Returns ok, warn or trip."""
        now = self.runtime.budget.now_ms()
        t = self.thresholds()
        level, why = "ok", ""
        since = int(self.client.hget(self.keys.breaker, "resumed_at_ms") or 0)
        for window, totals in self.store.windows(now, since).items():
            r = rates(totals)
            if r["sends"] < self.settings.breaker_min_sample:
                continue
            label = f"{window}s window ({r['sends']} sends)"
            bounce = counted_rate(r["bounce_rate"], totals["hard_bounces"], self.settings.breaker_min_events)
            complaint = counted_rate(r["complaint_rate"], totals["complaints"], self.settings.breaker_min_events)
            if bounce >= t.bounce_trip or complaint >= t.complaint_trip:
                level, why = "trip", f"bounce {r['bounce_rate']:.2%}, complaint {r['complaint_rate']:.3%} over {label}"
                break
            if bounce >= t.bounce_warn or complaint >= t.complaint_warn:
                level, why = "warn", f"bounce {r['bounce_rate']:.2%}, complaint {r['complaint_rate']:.3%} over {label}"
        if level == "trip":
            self._pause("all", why, now)
        elif level == "warn":
            self._pause("bulk", why, now)
        return level

    def check_alarm(self) -> str | None:
        """Pause everything while the CloudWatch alarm is in ALARM. Returns its state (None if unknown)."""
        if self.cloudwatch is None:
            return None
        alarms = self.cloudwatch.describe_alarms(AlarmNames=[self.settings.alarm_name]).get("MetricAlarms", [])
        if not alarms:
            return None
        state = alarms[0]["StateValue"]
        self.client.hset(self.keys.breaker, "alarm_state", state)
        if state == "ALARM":
            self._pause("all", f"CloudWatch alarm {self.settings.alarm_name} is in ALARM", self.runtime.budget.now_ms(), by="cloudwatch")
        return state

    def _pause(self, target: str, why: str, now_ms: int, by: str = "breaker") -> None:
        if pause.pause(self.client, self.keys, target, by, why, now_ms):
            log.warning("breaker_paused", target=target, by=by, why=why)
            self.client.hset(self.keys.breaker, mapping={"level": "trip" if target == "all" else "warn", "why": why, "at_ms": now_ms})

    def state(self) -> dict[str, Any]:
        now = self.runtime.budget.now_ms()
        data: dict[str, Any] = dict(self.client.hgetall(self.keys.breaker))
        data.pop("probation", None)
        data.setdefault("level", "ok")
        data["windows"] = {str(w): rates(t) for w, t in self.store.windows(now).items()}
        data["thresholds"] = self.thresholds().__dict__
        return data


def resume(runtime, target: str) -> tuple[list[str], int]:
    """An operator's resume: clear the flag(s); once nothing is paused (or on `all`), the breaker
    starts counting afresh, so the rates that tripped it cannot trip it again. The messages that met the
    pause and wait out its recheck are brought forward (those of kinds still paused stay). Returns the
    flags cleared and how many waiting messages are due now. Raises ValueError for an unknown target."""
    client, keys = runtime.client, runtime.budget.keys
    cleared = pause.resume(client, keys, target)
    left = pause.flags(client, keys)
    if target == "all" or not left:
        reset(runtime)
    free = {"transactional", "bulk"} - pause.paused_queues(left)
    return cleared, runtime.deferrals.bring_forward_paused(free) if free else 0


def reset(runtime) -> None:
    """The breaker's level cleared and its count started afresh (its pauses, if any, stay until resumed)."""
    runtime.client.hdel(runtime.budget.keys.breaker, "level", "why", "at_ms")
    runtime.client.hset(runtime.budget.keys.breaker, "resumed_at_ms", runtime.budget.now_ms())
