"""The mailbox providers ses-ramp knows and the recipient mix an operator declares (`RAMP_PROVIDER_MIX`):
the names and the parser `Settings` validates with, below the provider ramps' policy (`provider_ramp.py`)."""

from __future__ import annotations

import math

PROVIDERS = ("google", "microsoft", "yahoo", "apple", "other")
DEFAULT_MIX = "google=0.40,microsoft=0.25,yahoo=0.15,apple=0.10,other=0.10"

#: How far from 1 a declared mix may add up (rounding: 0.33+0.33+0.33); the rest is normalised away.
MIX_SUM_TOLERANCE = 0.02


def parse_mix(text: str) -> dict[str, float]:
    """`google=0.5,microsoft=0.3,...` -> shares of all five providers adding up to 1 (unnamed: 0).
    The shares must add up to 1 (within `MIX_SUM_TOLERANCE`, then normalised): a mix adding up to
    0.3 is a typo, not a plan, and would hand each provider three times the share meant for it.
    Raises ValueError naming what is wrong (a provider named twice too)."""
    mix = dict.fromkeys(PROVIDERS, 0.0)
    named: set[str] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if not eq or name not in PROVIDERS:
            raise ValueError(f"{part!r}: expected provider=share with provider one of {', '.join(PROVIDERS)}")
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"{part!r}: the share must be a number") from None
        if not 0 <= share < math.inf:  # also refuses nan
            raise ValueError(f"{part!r}: the share must be a number of 0 or more (shares are normalised to add up to 1)")
        if name in named:
            raise ValueError(f"{part!r}: {name} is named twice; give each provider one share")
        named.add(name)
        mix[name] = share
    total = sum(mix.values())
    if total <= 0:
        raise ValueError(f"{text!r}: the mix must give some provider a share above 0")
    if abs(total - 1) > MIX_SUM_TOLERANCE:
        raise ValueError(f"{text!r}: the shares add up to {total:.2f}, not 1 (each is that provider's share of your recipients)")
    return {p: s / total for p, s in mix.items()}
