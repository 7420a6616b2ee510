"""The probe of a list's new recipients: how large a sample, how much of a day it may take, and the
verdict on its SES events. Plain policy, no storage (the campaign's lists and counters are
`producers/campaigns/store.py`'s and `worker/fleet/probes.py`'s).

Why a probe: "One team routed an unverified legacy marketing list through a freshly provisioned IP on
day three. The account was suspended before the warm-up schedule had even begun." Unknown-user
rejections (550 5.1.1) punish a cold IP far more than a warm one, so a list ses-ramp has never
delivered to is tried on a sample first:

- sample: max(RAMP_PROBE_SAMPLE_MIN, RAMP_PROBE_SAMPLE_SHARE x new recipients), drawn at random (seeded
  by the campaign id: the same campaign draws the same sample);
- a day gives the sample at most RAMP_PROBE_DAY_SHARE of its cap, so even a sample that is all stale
  addresses cannot push the day's hard-bounce rate to the level that holds or steps back the ramp;
- verdict: once RAMP_PROBE_SETTLED_SHARE of the sample is delivered or bounced, or RAMP_PROBE_DEADLINE_S
  after its last recipient was fed. Hard bounces over RAMP_PROBE_MAX_BOUNCE_RATE of what settled park
  the rest; so does a sample that has more hard bounces than that rate of its whole size allows, as soon
  as it has them (the rest of the sample could not bring it back under);
  under the rate, the rest is released. Too little settled by the deadline (no events?) parks it as
  inconclusive: ses-ramp never releases a list it could not judge.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

#: A probe's states, in the campaign hash's `probe` field.
SAMPLING, RELEASED, PARKED = "sampling", "released", "parked"
#: Of a sample, at least this share must have settled by the deadline for a verdict on its rate.
MIN_JUDGED_SHARE = 0.5


@dataclass(frozen=True)
class ProbePolicy:
    new_recipients: int
    sample_min: int
    sample_share: float
    day_share: float
    max_bounce_rate: float
    settled_share: float
    deadline_s: int

    @classmethod
    def from_settings(cls, s: Any) -> ProbePolicy:
        return cls(s.probe_new_recipients, s.probe_sample_min, s.probe_sample_share, s.probe_day_share,
                   s.probe_max_bounce_rate, s.probe_settled_share, s.probe_deadline_s)

    def sample_size(self, new: int) -> int:
        """How many of `new` new recipients go first; 0: no probe (few enough new ones, or probing is off)."""
        if self.new_recipients <= 0 or new <= self.new_recipients:
            return 0
        return min(new, max(self.sample_min, math.ceil(self.sample_share * new)))

    def day_allowance(self, cap: int, fed_today: int) -> int:
        """Sample recipients that may still be fed today, with `fed_today` fed already (at least one a day)."""
        return max(0, max(1, math.floor(self.day_share * cap)) - fed_today)


def draw(indexes: int, size: int, seed: str) -> list[int]:
    """`size` of the positions 0..indexes-1, at random but the same for the same seed; in list order."""
    return sorted(random.Random(seed).sample(range(indexes), size))


@dataclass(frozen=True)
class Verdict:
    state: str  # RELEASED or PARKED
    reason: str


def judge(policy: ProbePolicy, sample: int, delivered: int, hard: int, other: int, waited_s: float | None) -> Verdict | None:
    """The verdict on a sample of `sample` recipients whose SES events so far are `delivered`, `hard`
    (permanent bounces) and `other` (SES gave up, or rejected it); `waited_s`: seconds since its last
    recipient was fed (None: not all fed yet). None: not yet."""
    judged = delivered + hard + other
    rate = hard / judged if judged else 0.0
    if hard > policy.max_bounce_rate * sample and judged < sample:  # however the rest ends, the sample is over the rate
        return Verdict(PARKED, f"probe failed: {hard} hard bounces in the first {judged} of a sample of {sample} ({rate:.1%}; "
                               f"over {policy.max_bounce_rate:.1%} of the whole sample already)")
    settled = judged >= policy.settled_share * sample or hard > policy.max_bounce_rate * sample
    if not settled and (waited_s is None or waited_s < policy.deadline_s):
        return None
    if judged < MIN_JUDGED_SHARE * sample:
        return Verdict(PARKED, f"probe inconclusive: {judged} of a sample of {sample} delivered or bounced by the deadline")
    if rate > policy.max_bounce_rate:
        return Verdict(PARKED, f"probe failed: {rate:.1%} hard bounces in a sample of {judged}")
    return Verdict(RELEASED, f"probe passed: {rate:.1%} hard bounces in a sample of {judged}")
