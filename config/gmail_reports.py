"""Gmail's own numbers as verdict rules, pure: the reports Postmaster Tools gives for a day and what they do
to the `google` ramp. Gmail sends no complaint events, so these are the only spam figures the google
ramp ever gets.

  spam rate >= `spam_step_back_rate` (0.3%, Gmail's limit)     step back, and warn (status and the day's history)
  spam rate >= `spam_hold_rate` (0.1%, Gmail's recommendation) hold
  an IP's or the domain's reputation BAD                       step back
  an IP's or the domain's reputation LOW                       hold
  nothing reported (late, or below Gmail's volume threshold)   no data: neither holds nor advances

Reports arrive one to two days late. A roll-over applies the worst of every report received since the last
roll-over, whichever day it describes: bad news acts at the next roll-over, once, and a day reported late is
never missed. Good reports never advance the ramp: SES's events still decide that."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date

from ses_ramp.config.schedule import Verdict

REPUTATIONS = ("HIGH", "MEDIUM", "LOW", "BAD")
#: How much a verdict weighs when two sources judge the same day: the worse one wins.
WEIGHT: dict[str, int] = {"idle": 0, "advance": 0, "no_events": 1, "unsettled": 1, "hold": 1, "step_back": 2}


@dataclass(frozen=True)
class GmailDay:
    """One domain's Postmaster Tools figures for the day `on` describes (None: not reported)."""

    domain: str
    on: date
    spam_rate: float | None = None  # user-reported spam rate, a fraction (0.002 = 0.2%)
    ip_reputation: dict[str, str] = field(default_factory=dict)  # dedicated IP -> HIGH | MEDIUM | LOW | BAD
    domain_reputation: str | None = None
    spammy_ids: tuple[str, ...] = ()  # Feedback-ID identifiers Gmail flagged

    @property
    def has_data(self) -> bool:
        return self.spam_rate is not None or bool(self.ip_reputation) or self.domain_reputation is not None or bool(self.spammy_ids)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "on": self.on.isoformat(), "spammy_ids": list(self.spammy_ids)}, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> GmailDay:
        d = json.loads(raw)
        return cls(d["domain"], date.fromisoformat(d["on"]), d.get("spam_rate"), dict(d.get("ip_reputation") or {}),
                   d.get("domain_reputation"), tuple(d.get("spammy_ids") or ()))


@dataclass(frozen=True)
class Thresholds:
    spam_hold_rate: float = 0.001
    spam_step_back_rate: float = 0.003


def judge(day: GmailDay, t: Thresholds) -> tuple[Verdict | None, str]:
    """One report's verdict and why; None when it holds no figure that counts."""
    found: list[tuple[Verdict, str]] = []
    if day.spam_rate is not None and day.spam_rate >= t.spam_step_back_rate:
        found.append(("step_back", f"Gmail spam rate {day.spam_rate:.2%} on {day.on} (limit {t.spam_step_back_rate:.1%})"))
    elif day.spam_rate is not None and day.spam_rate >= t.spam_hold_rate:
        found.append(("hold", f"Gmail spam rate {day.spam_rate:.2%} on {day.on} (aim under {t.spam_hold_rate:.1%})"))
    reps = [(f"IP {ip}", r) for ip, r in sorted(day.ip_reputation.items())]
    if day.domain_reputation:
        reps.append((f"domain {day.domain}", day.domain_reputation))
    for what, rep in reps:
        if rep == "BAD":
            found.append(("step_back", f"Gmail reputation of {what} BAD on {day.on}"))
        elif rep == "LOW":
            found.append(("hold", f"Gmail reputation of {what} LOW on {day.on}"))
    return _worst(found) or (None, "")


def verdict(reports: Sequence[GmailDay], t: Thresholds) -> tuple[Verdict | None, str]:
    """The worst verdict of `reports` (those received since the last roll-over); (None, why) for no data."""
    found: list[tuple[Verdict, str]] = []
    for report in reports:
        v, why = judge(report, t)
        if v is not None:
            found.append((v, why))
    worst = _worst(found)
    if worst:
        return worst
    return None, "Gmail's reports within limits" if any(r.has_data for r in reports) else "no Postmaster Tools data"


def _worst(found: Sequence[tuple[Verdict, str]]) -> tuple[Verdict, str] | None:
    """The heaviest verdict found (the first of equals), or None."""
    return max(found, key=lambda f: WEIGHT[f[0]]) if found else None


def worse(own: Verdict, reported: Verdict | None) -> Verdict:
    """The verdict a provider's day closes with when Gmail's reports judge it too."""
    return reported if reported is not None and WEIGHT[reported] > WEIGHT[own] else own
