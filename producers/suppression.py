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


def unsubscribed_among(client: redis.Redis, settings: Settings, wanted: list[tuple[str, list[str]]]) -> list[set[str]]:
    """For each (list, addresses) of `wanted`, the normalised addresses that unsubscribed from that
    list; one pipelined round trip for all of them."""
    keys = Keys(settings.key_prefix)
    asks = [(list_id, [normalise_address(a) for a in addresses]) for list_id, addresses in wanted]
    with client.pipeline(transaction=False) as pipe:
        for list_id, normalised in asks:
            pipe.smismember(keys.unsubscribed(list_id), normalised)
        answers = pipe.execute() if asks else []
    return [{a for a, hit in zip(normalised, flags) if hit} for (_, normalised), flags in zip(asks, answers)]

