"""Recipients ses-ramp knows: those SES delivered to in the last RAMP_KNOWN_RECIPIENT_DAYS days. One Redis hash
(`keys.known`), a 64-bit digest of the normalised address -> the day (days since 1970-01-01, UTC) it was last
delivered to: written by `ramp events` from Delivery events (idempotent: a redelivered event writes the same),
pruned once a day by a fleet duty, read by the producer to tell a list's known recipients from new ones.

A digest keeps no address in Redis for this. 64 bits: among ten million addresses the chance that two share a
digest is about 1 in 400,000, and a collision only makes a new address look known. Its cost in Redis is measured
by `python -m bench --only known` (about 80 bytes per address in a plain hash)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any

from ses_ramp.config.keys import Keys
from ses_ramp.producers.message import normalise_address

DAY_S = 86_400


def digest(address: str) -> str:
    return hashlib.sha256(normalise_address(address).encode()).hexdigest()[:16]


def day_number(now_ms: int) -> int:
    return int(now_ms // 1000 // DAY_S)


def remember(client: Any, keys: Keys, addresses: Iterable[str], now_ms: int) -> None:
    """These recipients were delivered to on `now_ms`'s day."""
    fields = {digest(a): day_number(now_ms) for a in addresses}
    if fields:
        client.hset(keys.known, mapping=fields)


def known(client: Any, keys: Keys, addresses: list[str], now_ms: int, window_days: int) -> list[bool]:
    """For each address: delivered to within the last `window_days` days (one HMGET)."""
    if not addresses:
        return []
    oldest = day_number(now_ms) - window_days
    return [v is not None and int(v) >= oldest for v in client.hmget(keys.known, [digest(a) for a in addresses])]


def forget_older(client: Any, keys: Keys, now_ms: int, window_days: int, budget_s: float = 2.0) -> int:
    """Drop the digests last delivered to before the window (HSCAN, in pieces); returns how many."""
    oldest, dropped, started = day_number(now_ms) - window_days, 0, time.monotonic()
    stale: list[str] = []
    for field, value in client.hscan_iter(keys.known, count=5000):
        if int(value) < oldest:
            stale.append(field)
        if len(stale) >= 5000:
            dropped += int(client.hdel(keys.known, *stale))
            stale = []
        if time.monotonic() - started > budget_s:
            break  # the rest on the next day's pass
    if stale:
        dropped += int(client.hdel(keys.known, *stale))
    return dropped
