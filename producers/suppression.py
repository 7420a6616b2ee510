"""The suppression list as producers see it: one Redis set of normalised addresses."""

from __future__ import annotations

from collections.abc import Iterable

import redis

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers.message import normalise_address


def suppressed_among(client: redis.Redis, settings: Settings, addresses: Iterable[str]) -> set[str]:
    """The normalised addresses of `addresses` that are suppressed (one SMISMEMBER round trip)."""
    normalised = [normalise_address(a) for a in addresses]
    if not normalised:
        return set()
    flags = client.smismember(Keys(settings.key_prefix).suppressed, normalised)
    return {a for a, hit in zip(normalised, flags) if hit}
