"""Suppression as producers see it: the global set of addresses never mailed again, and one set per list of
addresses that unsubscribed from it; both read in one pipelined round trip per batch."""

from __future__ import annotations

from collections.abc import Iterable

import redis

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers.message import normalise_address


def suppression_state(client: redis.Redis, settings: Settings, addresses: Iterable[str],
                      by_list: list[tuple[str, list[str]]]) -> tuple[set[str], list[set[str]]]:
    """One pipelined round trip: the normalised `addresses` on the global suppression list, and for
    each (list, addresses) of `by_list` those that unsubscribed from that list."""
    keys = Keys(settings.key_prefix)
    normalised = [normalise_address(a) for a in addresses]
    asks = [(list_id, [normalise_address(a) for a in rcpts]) for list_id, rcpts in by_list]
    if not normalised and not asks:
        return set(), []
    with client.pipeline(transaction=False) as pipe:
        if normalised:
            pipe.smismember(keys.suppressed, normalised)
        for list_id, rcpts in asks:
            pipe.smismember(keys.unsubscribed(list_id), rcpts)
        answers = pipe.execute()
    global_flags = answers.pop(0) if normalised else []
    suppressed = {a for a, hit in zip(normalised, global_flags) if hit}
    return suppressed, [{a for a, hit in zip(rcpts, flags) if hit} for (_, rcpts), flags in zip(asks, answers)]
