"""The warm-up's own settings (schedule, budget, breaker and day verdict): the half of `Settings` that the
ramp's policy reads. `Settings` (settings.py) inherits them; build that, never this alone."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ses_ramp.config.steps import caps_between

#: SES suspends an account at these rates; every threshold of ours must stay strictly below them.
SES_BOUNCE_SUSPEND_RATE = 0.05
SES_COMPLAINT_SUSPEND_RATE = 0.001

#: Growth per step of each recipient-mix profile (the seed: 1.5x-2.0x consumer, ~1.2x strict B2B).
PROFILE_MULTIPLIERS = {"consumer": 1.5, "b2b": 1.2}


class RampSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAMP_", env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True,
        env_ignore_empty=True,  # compose passes unset optional settings as empty strings
    )

    # --- warm-up schedule ------------------------------------------------------------------------
    warmup_profile: Literal["consumer", "b2b"] = Field("consumer", description="Recipient mix: consumer 1.5x, b2b 1.2x.")
    warmup_multiplier: float | None = Field(
        None, gt=1.0, le=3.0, description="Growth per step; unset: the profile's (1.5 consumer, 1.2 b2b)."
    )
    warmup_start_per_day: int = Field(50, ge=1, description="Day-one cap (recipients).")
    warmup_target_per_day: int = Field(50_000, ge=1, description="Cap at the end of the ramp (recipients/day).")
    warmup_days: int = Field(45, ge=1, le=365, description="Sending days the whole ramp spans (seed: 30-45).")
    advance_min_usage_share: float = Field(
        0.8, ge=0, le=1, description="A day must use this share of its cap to count toward the next step."
    )
    cooldown_idle_days: int = Field(14, ge=14, le=21, description="Idle days after which the IP has cooled down.")
    cooldown_keep_share: float = Field(
        0.5, ge=0, le=1, description="After a cool-down, the ramp restarts at this share of the step reached."
    )
    deferral_warn_rate: float = Field(
        0.10, gt=0, lt=1, description="Share of a day's recipients delayed for the IP's reputation (SES DeliveryDelay "
        "events of type IPFailure, SpamDetected, TransientCommunicationFailure) above which the day holds its step.")
    deferral_bad_rate: float = Field(0.30, gt=0, le=1, description="That share above which a day steps back.")
    verdict_settle_share: float = Field(
        0.9, gt=0, le=1, description="Share of a day's sends SES events must account for (delivered, bounced or delayed) "
        "when the day closes before a clean day may advance; below it the step holds (`unsettled`).")

    # --- budget -------------------------------------------------------------------------------------
    transactional_reserve_share: float = Field(
        0.2, ge=0, le=1, description="Share of the day's cap that bulk mail can never use."
    )
    hourly_burst_factor: float = Field(
        3.0, ge=1, le=24, description="No hour may use more than cap/24 times this."
    )
    day_timezone: str = Field("UTC", description="IANA zone whose midnight starts a new sending day.")
    rate_per_s: float = Field(14.0, gt=0, description="Recipients per second, fleet-wide (SES MaxSendRate).")
    rate_burst: int = Field(5, ge=1, description="Recipients that may go at once above the steady rate.")
    rate_wait_inline_max_s: float = Field(
        1.0, ge=0, description="A rate-limit wait shorter than this is slept in the worker; longer ones are deferred."
    )

    aimd_decrease_factor: float = Field(
        0.5, gt=0, lt=1, description="Each receiver deferral multiplies the fleet's rate by this (at most once a second)."
    )
    aimd_increase_per_s: float = Field(
        0.5, gt=0, description="Recipients/second added back per quiet interval until the configured rate is reached."
    )
    aimd_quiet_s: float = Field(30.0, gt=0, description="Seconds without a deferral before the rate climbs again.")
    aimd_min_rate_per_s: float = Field(0.2, gt=0, description="The adaptive rate never drops below this.")

    # --- the breaker and the day verdict: when a rate counts, and its levels ------------------------
    breaker_min_events: int = Field(
        3, ge=1, description="Hard bounces (or complaints) a window must hold before that rate may pause: one complaint "
        "in a few hundred sends is noise, not evidence (at a 0.01% complaint rate it would stop a clean ramp every few days).")
    breaker_min_sample: int = Field(200, ge=1, description="Sends in a window before its rates may trip the breaker.")
    bounce_warn_rate: float = Field(0.025, gt=0, description="Hard-bounce rate that holds the ramp / pauses bulk.")
    complaint_warn_rate: float = Field(0.0005, gt=0, description="Complaint rate that holds the ramp / pauses bulk.")
    bounce_trip_rate: float = Field(0.04, gt=0, description="Hard-bounce rate that pauses everything.")
    complaint_trip_rate: float = Field(0.0008, gt=0, description="Complaint rate that pauses everything.")
    gmail_spam_hold_rate: float = Field(
        0.001, gt=0, lt=1, description="Gmail's user-reported spam rate (Postmaster Tools) at which the google ramp holds "
        "(Gmail recommends staying under 0.1%).")
    gmail_spam_step_back_rate: float = Field(
        0.003, gt=0, lt=1, description="That rate at which the google ramp steps back (Gmail's limit for bulk senders: 0.3%).")
    # --- list hygiene: a campaign of many new recipients is probed first (`config/probe.py`) ---------
    probe_new_recipients: int = Field(
        1000, ge=0, description="A campaign bringing more new recipients than this (none delivered to within "
        "RAMP_KNOWN_RECIPIENT_DAYS) sends a sample of them first and holds the rest until it is judged; 0: never probe.")
    probe_sample_min: int = Field(200, ge=1, description="A probe's sample: at least this many new recipients...")
    probe_sample_share: float = Field(0.02, gt=0, le=1, description="...or this share of them, whichever is larger.")
    probe_day_share: float = Field(
        0.1, gt=0, le=1, description="Share of a day's cap a probe's sample may take: a sample that bounces at 12% adds at "
        "most 1.2% to the day's hard-bounce rate, under the level that holds the ramp.")
    probe_max_bounce_rate: float = Field(
        0.02, gt=0, lt=1, description="Hard-bounce rate of a probe's sample above which its campaign's held recipients are parked.")
    probe_settled_share: float = Field(
        0.9, gt=0, le=1, description="Share of a sample that must be delivered or bounced (SES events) before it is judged...")
    probe_deadline_s: int = Field(
        21_600, ge=60, description="...or seconds after the last of the sample was fed, whatever has settled by then "
        "(too little: parked as inconclusive, for the operator to release or cancel).")
    probation_cap_share: float = Field(0.5, gt=0, le=1, description="`ramp probation on` lowers today's cap to this share.")
    probation_rate_share: float = Field(
        0.5, gt=0, le=1, description="`ramp probation on` multiplies the breaker's warn and trip rates by this."
    )

    @field_validator("day_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def multiplier(self) -> float:
        """Growth per step: the explicit setting, else the profile's."""
        return self.warmup_multiplier or PROFILE_MULTIPLIERS[self.warmup_profile]

    @property
    def warmup_steps(self) -> int:
        """Number of distinct caps from start to target (the last one clipped to the target),
        counted by the schedule's own function."""
        return len(caps_between(self.warmup_start_per_day, self.warmup_target_per_day, self.multiplier))
