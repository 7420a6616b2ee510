"""A ramp per mailbox provider, as pure code: each provider's share, cap and verdict.

Gmail, Microsoft, Yahoo, Apple and the rest each keep their own reputation for the IP, so each has
its own step on the same schedule (`schedule.py`), moved by its own recipients' SES events.

How a provider's cap relates to the day's overall cap:

    plan(p) = ceil(share(p) * cap_for(step(p)) * scale)       what the provider is expected to take
    cap(p)  = ceil(plan(p) * headroom)                         what the gate lets it take (default 1.25)

`scale` is today's cap over the schedule's (probation lowers both). `share(p)` is the provider's part of
the recipient mix: `RAMP_PROVIDER_MIX` (the operator's declared mix), raised to the observed share of
the last 7 sending days where that is higher (observed: what its mail wanted, sent or turned away by
its cap), then normalised to add up to 1; at least `MIN_SHARE`. The declared mix is a floor on
purpose: a held provider sends less, and a share taken from sends alone would shrink its cap day
after day (it would never recover). The overall cap still bounds the sum: the gate checks both.

The verdicts. Each provider is judged on its own day report (its recipients' Send, Delivery,
DeliveryDelay, Bounce and Complaint events, its own usage of `plan(p)`), with the same rules as the
whole ramp. A provider that sent fewer than `min_sends` recipients that day is too small to judge
alone: it follows the overall verdict. The overall verdict judges bounces, complaints and usage on all
mail (SES suspends the account, not a provider), but reputation delays only of the providers that were
not judged alone: a Microsoft deferral spike holds Microsoft, not Gmail. The day's cap itself is never
above the sum of the providers' caps (the roll-over bounds it), so a held provider does not leave part of
the day's cap unusable, and the whole ramp's usage is judged against what could really go.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from ses_ramp.config import schedule
from ses_ramp.config.gmail_reports import worse
from ses_ramp.config.mix import DEFAULT_MIX, PROVIDERS, parse_mix
from ses_ramp.config.schedule import DayReport, RampState, ScheduleConfig, Verdict

__all__ = ["DEFAULT_MIX", "PROVIDERS", "parse_mix"]  # re-exported: the policy's users read the names here too

SHARE_DAYS = 7
#: No provider's share is below this: a provider the declared mix left out still gets a little of the
#: day (its demand is then seen, and its share follows it the next day) instead of none.
MIN_SHARE = 0.02


def shares(mix: Mapping[str, float], observed: Mapping[str, int]) -> dict[str, float]:
    """Each provider's share: the declared `mix`, raised to the `observed` share of recent sends
    where higher, normalised to add up to 1."""
    seen = sum(observed.values())
    raw = {p: max(MIN_SHARE, mix.get(p, 0.0), observed.get(p, 0) / seen if seen else 0.0) for p in PROVIDERS}
    total = sum(raw.values()) or 1.0
    return {p: v / total for p, v in raw.items()}


def split(n: int, shares: Mapping[str, float]) -> dict[str, int]:
    """`n` recipients in the `shares`' proportions (largest remainders), adding up to `n`: a day of the
    plan per provider (`ramp schedule --mix`), the simulator's demand per provider."""
    total = sum(shares.values()) or 1.0
    exact = {p: n * v / total for p, v in shares.items()}
    out = {p: int(x) for p, x in exact.items()}
    for p in sorted(exact, key=lambda p: exact[p] - out[p], reverse=True)[: n - sum(out.values())]:
        out[p] += 1
    return out


def plan_and_cap(cfg: ScheduleConfig, state: RampState, share: float, scale: float, headroom: float) -> tuple[int, int]:
    """(plan, cap) of one provider for the day: recipients expected, and recipients the gate allows."""
    plan = math.ceil(share * schedule.cap_for(cfg, state) * scale)
    return plan, math.ceil(plan * headroom)


def judged_alone(report: DayReport, min_sends: int) -> bool:
    return max(report.sent, report.event_sends) >= min_sends


def overall_report(report: DayReport, providers: Mapping[str, DayReport], min_sends: int) -> DayReport:
    """The whole day's report, its reputation delays reduced to those of the providers too small to be
    judged alone (the others answer for their own delays)."""
    alone = [r for r in providers.values() if judged_alone(r, min_sends)]
    if not alone:
        return report
    rest_delays = max(0, report.reputation_delays - sum(r.reputation_delays for r in alone))
    rest_heard = max(0, report.heard - sum(r.heard for r in alone))
    return replace(report, reputation_delays=rest_delays, deferral_heard=rest_heard)


def close_provider_day(cfg: ScheduleConfig, state: RampState, report: DayReport, overall: Verdict,
                       min_sends: int, reported: Verdict | None = None) -> tuple[RampState, Verdict]:
    """A provider's state after its day: its own verdict, or the overall one when it sent too little;
    `reported`, the provider's own reports' verdict (Gmail's Postmaster Tools), makes it worse, never better."""
    v = worse(schedule.verdict(cfg, report) if judged_alone(report, min_sends) else overall, reported)
    return schedule.apply_verdict(cfg, state, v, report.on), v


def cool_down(cfg: ScheduleConfig, state: RampState) -> RampState:
    """A provider's state after the IP cooled down: the same fall-back as the whole ramp."""
    return replace(state, step=math.floor(state.step * cfg.cooldown_keep_share), days_at_step=0)
