"""The per-provider part of the day roll-over: each provider's closed day, its new step, today's caps.

Policy (shares, caps, verdicts) is `config/provider_ramp.py`; this module reads and writes where it is
kept. A provider's state lives beside the whole ramp's, as fields of the `ramp` hash (`step@<p>`,
`days_at_step@<p>`); its day as fields of the `day` hash: `plan@<p>` (expected), `cap@<p>` (what the
gate allows), `used@<p>` (charged by the gate, refunded by settle), `step@<p>`. History entries keep
the closed day's fields, so the observed mix of the last days is read from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from ses_ramp.config import provider_ramp, schedule
from ses_ramp.config.provider_ramp import PROVIDERS
from ses_ramp.config.schedule import DayReport, RampState


def read_states(ramp: Mapping[str, str], overall: RampState) -> dict[str, RampState]:
    """Each provider's step; one never ramped on its own (new install, or per-provider ramps just
    turned on) starts where the whole ramp stands."""
    out = {}
    for p in PROVIDERS:
        step = ramp.get(f"step@{p}")
        out[p] = (replace(overall, step=int(step), days_at_step=int(ramp.get(f"days_at_step@{p}", 0)))
                  if step not in (None, "") else overall)
    return out


def state_fields(states: Mapping[str, RampState]) -> dict[str, int]:
    out = {}
    for p, s in states.items():
        out[f"step@{p}"] = s.step
        out[f"days_at_step@{p}"] = s.days_at_step
    return out


def reports(old: Mapping[str, str], heard: Mapping[str, Mapping[str, int]], on: date) -> dict[str, DayReport]:
    """Each provider's closed day: what the gate charged it (`used@<p>`, less refunds: its sends) and
    what SES's events said of its recipients (`heard`: `cohorts.read_providers`)."""
    out = {}
    for p in PROVIDERS:
        h = heard.get(p, {})
        out[p] = DayReport(
            on=on, cap=int(old.get(f"plan@{p}", 0) or 0), sent=int(old.get(f"used@{p}", 0) or 0),
            event_sends=h.get("sends", 0), delivered=h.get("deliveries", 0),
            reputation_delays=h.get("reputation_delays", 0), other_delays=h.get("delays", 0) - h.get("reputation_delays", 0),
            bounces=h.get("hard_bounces", 0), soft_bounces=h.get("soft_bounces", 0), complaints=h.get("complaints", 0),
        )
    return out


def observed(days: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Recipients each provider's mail wanted over `days` (closed day hashes or history entries): what
    the gate charged it, and what its cap turned away (`refused@<p>`), so a held provider's share is
    not read from its held volume."""
    return {p: sum(int(d.get(f"used@{p}", 0) or 0) + int(d.get(f"refused@{p}", 0) or 0) for d in days) for p in PROVIDERS}


def day_fields(cfg: schedule.ScheduleConfig, states: Mapping[str, RampState], shares: Mapping[str, float],
               scale: float, headroom: float) -> dict[str, int]:
    out = {}
    for p in PROVIDERS:
        plan, cap = provider_ramp.plan_and_cap(cfg, states[p], shares[p], scale, headroom)
        out.update({f"plan@{p}": plan, f"cap@{p}": cap, f"step@{p}": states[p].step, f"used@{p}": 0})
    return out
