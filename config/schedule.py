"""The warm-up ramp as pure code: caps per step, days per step, health-gated advance, cool-down.

The math. A step multiplies the cap by the multiplier `m`, from `start` to `target`:
    cap(i) = min(target, round(start * m**i)),  steps = ceil(log(target/start) / log(m)) + 1
The seed's numbers (50 -> 50,000, 1.5x-2.0x, 30-45 days) do not fit day-per-step: 1.5x reaches the
target in 18 steps, 2.0x in 11. So each step is *held* for several sending days, spread evenly so the
whole ramp spans `days` sending days: step i is held floor((i+1)*D/S) - floor(i*D/S) days.
A day counts toward the hold only when it was healthy (used >= 80% of its cap, rates under the warn
levels, judged on SES's events for the day's sends: see `DayReport`); a bad day steps back; `cooldown_idle_days` without sending drops the ramp back to a share of
the step it had reached.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import Any, Literal

from ses_ramp.config.settings import Settings
from ses_ramp.config.steps import caps_between

Verdict = Literal["advance", "hold", "step_back", "idle", "no_events", "unsettled"]
#: Verdicts that keep the step where it is (the day still counts as a sending day).
HOLDING = ("hold", "no_events", "unsettled")

#: Below this daily volume a dedicated IP never builds a stable reputation (the seed: 3,000-5,000/day).
DEDICATED_IP_FLOOR_PER_DAY = 3000


@dataclass(frozen=True)
class ScheduleConfig:
    """The ramp's parameters. No defaults here: they live once, in `Settings` (`ScheduleConfig.of()`
    builds one from those defaults, for tests and tools)."""

    start_per_day: int
    target_per_day: int
    multiplier: float
    days: int
    advance_min_usage_share: float
    cooldown_idle_days: int
    cooldown_keep_share: float
    deferral_warn_rate: float
    deferral_bad_rate: float
    bounce_warn_rate: float
    bounce_trip_rate: float
    complaint_warn_rate: float
    complaint_trip_rate: float
    min_events: int  # bounces (or complaints) a day needs before its rate counts: below, it is noise
    settle_share: float  # share of a day's sends SES must have reported on before the day may advance

    @classmethod
    def from_settings(cls, s: Settings) -> ScheduleConfig:
        return cls(
            start_per_day=s.warmup_start_per_day,
            target_per_day=s.warmup_target_per_day,
            multiplier=s.multiplier,
            days=s.warmup_days,
            advance_min_usage_share=s.advance_min_usage_share,
            cooldown_idle_days=s.cooldown_idle_days,
            cooldown_keep_share=s.cooldown_keep_share,
            deferral_warn_rate=s.deferral_warn_rate,
            deferral_bad_rate=s.deferral_bad_rate,
            bounce_warn_rate=s.bounce_warn_rate,
            bounce_trip_rate=s.bounce_trip_rate,
            complaint_warn_rate=s.complaint_warn_rate,
            complaint_trip_rate=s.complaint_trip_rate,
            min_events=s.breaker_min_events,
            settle_share=s.verdict_settle_share,
        )

    @classmethod
    def of(cls, **overrides: Any) -> ScheduleConfig:
        """`Settings`' defaults (never the environment), with `overrides` applied."""
        return replace(cls.from_settings(Settings.model_construct()), **overrides)

    @property
    def low_volume_warning(self) -> str | None:
        if self.target_per_day >= DEDICATED_IP_FLOOR_PER_DAY:
            return None
        return (
            f"target {self.target_per_day}/day is under ~{DEDICATED_IP_FLOOR_PER_DAY}/day: a dedicated IP will not "
            "build a stable reputation at that volume; a shared SES pool serves you better"
        )


def step_caps(cfg: ScheduleConfig) -> tuple[int, ...]:
    return _step_caps(cfg)


def step_hold_days(cfg: ScheduleConfig) -> tuple[int, ...]:
    """Healthy sending days each step is held; they add up to `cfg.days` (each at least 1)."""
    return _step_hold_days(cfg)


# A config is frozen, so its steps are computed once: the forecast walks hundreds of days at a time.
@functools.lru_cache(maxsize=64)
def _step_caps(cfg: ScheduleConfig) -> tuple[int, ...]:
    return tuple(caps_between(cfg.start_per_day, cfg.target_per_day, cfg.multiplier))


@functools.lru_cache(maxsize=64)
def _step_hold_days(cfg: ScheduleConfig) -> tuple[int, ...]:
    steps = len(_step_caps(cfg))
    days = max(cfg.days, steps)
    return tuple(((i + 1) * days) // steps - (i * days) // steps for i in range(steps))


@dataclass(frozen=True)
class PlanDay:
    day: int
    step: int
    cap: int
    cumulative: int


def plan(cfg: ScheduleConfig) -> list[PlanDay]:
    """The day-by-day plan if every day is healthy."""
    out: list[PlanDay] = []
    total = 0
    for step, (cap, hold) in enumerate(zip(step_caps(cfg), step_hold_days(cfg))):
        for _ in range(hold):
            total += cap
            out.append(PlanDay(day=len(out) + 1, step=step, cap=cap, cumulative=total))
    return out


@dataclass(frozen=True)
class RampState:
    """Where the ramp stands. `sending_days` counts days that sent anything, not calendar days."""

    step: int = 0
    days_at_step: int = 0
    sending_days: int = 0
    last_sending_date: date | None = None
    cooled_down_on: date | None = None

    def to_redis(self) -> dict[str, str]:
        d = asdict(self)
        return {k: ("" if v is None else str(v)) for k, v in d.items()}

    @classmethod
    def from_redis(cls, h: dict[str, str]) -> RampState:
        if not h:
            return cls()

        def _date(v: str | None) -> date | None:
            return date.fromisoformat(v) if v else None

        return cls(
            step=int(h.get("step", 0)),
            days_at_step=int(h.get("days_at_step", 0)),
            sending_days=int(h.get("sending_days", 0)),
            last_sending_date=_date(h.get("last_sending_date")),
            cooled_down_on=_date(h.get("cooled_down_on")),
        )


@dataclass(frozen=True)
class DayReport:
    """One closed sending day: the worker's own counters (`sent`, `failed`: recipients SES accepted or
    refused) and what SES's events have said so far about the recipients sent that day (`events_*`,
    counted by send day, however late they arrived; see `worker/budget/cohorts.py`).

    SES, not the worker, meets the receivers: a receiver's 421 reaches the ramp only as a
    DeliveryDelay event. So the deferral rate is the share of the day's recipients with a delay that
    speaks of the IP's reputation, and bounces and complaints are those of the day's own sends.
    """

    on: date
    cap: int
    sent: int = 0
    failed: int = 0
    event_sends: int = 0  # recipients in Send events
    delivered: int = 0
    reputation_delays: int = 0  # recipients delayed for the IP's reputation (see cohorts.REPUTATION_DELAYS)
    other_delays: int = 0  # recipients delayed for other reasons (mailbox full, ...)
    bounces: int = 0  # hard (permanent) bounces
    soft_bounces: int = 0  # SES gave up after retrying
    complaints: int = 0
    reserve_unused: int = 0  # the part of the transactional reserve no transactional mail used: bulk could not have
    # Recipients the deferral rate is taken over, when not all that were heard (`provider_ramp.overall_report`:
    # the delays of providers judged alone are theirs, so the overall rate counts only the others').
    deferral_heard: int | None = None

    @property
    def heard(self) -> int:
        """Recipients SES has reported on. A Send event is what SES's report starts with, so
        without any, nothing has been heard; the worker's own count may be ahead of the events."""
        return max(self.event_sends, self.delivered + self.bounces + self.soft_bounces)

    @property
    def accounted(self) -> int:
        """Recipients whose fate SES has told: delivered, bounced, or delayed (a delayed recipient has
        already spoken about the IP; counting one delayed and later delivered twice settles a day a
        little early, never late). At most the day's sends."""
        total = self.delivered + self.bounces + self.soft_bounces + self.reputation_delays + self.other_delays
        return min(total, max(self.sent, self.event_sends))

    @property
    def settled_share(self) -> float:
        base = max(self.sent, self.event_sends)
        return self.accounted / base if base else 1.0

    @property
    def deferral_rate(self) -> float:
        base = self.heard if self.deferral_heard is None else self.deferral_heard
        return self.reputation_delays / base if base else 0.0

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.heard if self.heard else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.heard if self.heard else 0.0

    @property
    def usage_share(self) -> float:
        """Sent over what the gate let the day send: the cap, less the reserve that stayed free for
        transactional mail (bulk may never take it, so a bulk-only day is judged on the rest)."""
        usable = self.cap - self.reserve_unused
        return self.sent / usable if usable > 0 else 0.0


def counted_rate(rate: float, events: int, min_events: int) -> float:
    """`rate` once it rests on at least `min_events` events, else 0: two bounces in a 75-recipient
    day are 2.7%, but they are chance, not a verdict on the list (the breaker uses this too)."""
    return rate if events >= min_events else 0.0


def verdict(cfg: ScheduleConfig, report: DayReport) -> Verdict:
    """What a closed day means for the ramp, and why it may not advance yet.

    Bad news never waits: rates past the bad levels step back on whatever has been heard. A day whose
    sends brought no SES event at all (`ramp events` down, no event destination) is not healthy: it
    holds (`no_events`). A clean day advances only once `settle_share` of its sends are accounted for;
    before that it holds (`unsettled`), since the missing part may be the bad part."""
    if report.sent == 0 and report.failed == 0 and report.heard == 0:
        return "idle"
    bounce = counted_rate(report.bounce_rate, report.bounces, cfg.min_events)
    complaint = counted_rate(report.complaint_rate, report.complaints, cfg.min_events)
    deferral = counted_rate(report.deferral_rate, report.reputation_delays, cfg.min_events)
    if bounce >= cfg.bounce_trip_rate or complaint >= cfg.complaint_trip_rate or deferral >= cfg.deferral_bad_rate:
        return "step_back"
    if report.sent > 0 and report.heard == 0:
        return "no_events"
    if (
        report.usage_share < cfg.advance_min_usage_share
        or bounce >= cfg.bounce_warn_rate
        or complaint >= cfg.complaint_warn_rate
        or deferral >= cfg.deferral_warn_rate
    ):
        return "hold"
    if report.settled_share < cfg.settle_share:
        return "unsettled"
    return "advance"


def why(cfg: ScheduleConfig, report: DayReport, v: Verdict) -> str:
    """One line an operator reads in `ramp status`: what the verdict rests on."""
    rates = (f"{report.heard:,} of {report.sent:,} sends heard from SES: reputation delays {report.deferral_rate:.1%}, "
             f"bounces {report.bounce_rate:.2%}, complaints {report.complaint_rate:.3%}")
    if v == "idle":
        return "nothing sent"
    if v == "no_events":
        return (f"no SES event for any of {report.sent:,} sends: is `ramp events` running and does the configuration "
                "set publish events to its queue? The step holds until events arrive")
    if v == "unsettled":
        return (f"only {report.settled_share:.0%} of the day's sends accounted for by SES events at the roll-over "
                f"(needs {cfg.settle_share:.0%}); the step holds; {rates}")
    if v == "hold" and report.usage_share < cfg.advance_min_usage_share:
        return f"used {report.usage_share:.0%} of what the cap allowed (needs {cfg.advance_min_usage_share:.0%}); {rates}"
    return rates


def close_day(cfg: ScheduleConfig, state: RampState, report: DayReport) -> tuple[RampState, Verdict]:
    """State after `report`'s day: advance, hold, or step back (idle days change nothing)."""
    v = verdict(cfg, report)
    return apply_verdict(cfg, state, v, report.on), v


def apply_verdict(cfg: ScheduleConfig, state: RampState, v: Verdict, on: date) -> RampState:
    """`state` moved by the verdict `v` on the day `on` (a provider's ramp moves by its own verdict too)."""
    if v == "idle":
        return state
    state = replace(state, sending_days=state.sending_days + 1, last_sending_date=on)
    if v == "step_back":
        return replace(state, step=max(0, state.step - 1), days_at_step=0)
    if v in HOLDING:
        return state
    holds = step_hold_days(cfg)
    days_at_step = state.days_at_step + 1
    if days_at_step >= holds[state.step] and state.step < len(holds) - 1:
        return replace(state, step=state.step + 1, days_at_step=0)
    return replace(state, days_at_step=days_at_step)


def idle_days(state: RampState, today: date) -> int:
    """Whole days without sending between the last sending day and `today` (exclusive)."""
    if state.last_sending_date is None:
        return 0
    return max(0, (today - state.last_sending_date).days - 1)


def open_day(cfg: ScheduleConfig, state: RampState, today: date) -> tuple[RampState, bool]:
    """State for `today`; True when the IP cooled down (idle too long) and the ramp fell back."""
    if idle_days(state, today) < cfg.cooldown_idle_days or state.cooled_down_on is not None and (
        state.last_sending_date is not None and state.cooled_down_on > state.last_sending_date
    ):
        return state, False
    fallback = math.floor(state.step * cfg.cooldown_keep_share)
    return replace(state, step=fallback, days_at_step=0, cooled_down_on=today), True


def cap_for(cfg: ScheduleConfig, state: RampState) -> int:
    caps = step_caps(cfg)
    return caps[min(state.step, len(caps) - 1)]
