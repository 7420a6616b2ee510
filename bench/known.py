"""The known-recipient record (`producers/known.py`) at scale: Redis memory per million addresses
delivered to, and the producer's known/new lookup of a campaign's recipients against it.

Each run writes `n` digests as the events consumer does (`known.remember`), measures `used_memory`
before and after and the hash's own `MEMORY USAGE` (every field sampled), times `known.known` over all
`n` addresses, then deletes the key: nothing is left in the Redis measured.
"""

from __future__ import annotations

import time

import redis

from bench.campaigns import drop, used
from bench.hotpath import scoped
from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers import known

BATCH = 10_000


def memory_runs(base: Settings, n: int, runs: int = 3) -> list[dict[str, float]]:
    out = []
    client = redis.Redis.from_url(base.effective_redis_url)
    try:
        for _ in range(runs):
            s = scoped(base, "known")
            k, now_ms = Keys(s.key_prefix), int(time.time() * 1000)
            addresses = [f"reader{i}@example{i % 500}.com" for i in range(n)]
            try:
                before = used(client)
                for start in range(0, n, BATCH):
                    known.remember(client, k, addresses[start : start + BATCH], now_ms)
                after = used(client)
                usage = int(client.memory_usage(k.known, samples=0) or 0)
                t0 = time.perf_counter()
                for start in range(0, n, 50_000):
                    known.known(client, k, addresses[start : start + 50_000], now_ms, 90)
                lookup_s = time.perf_counter() - t0
            finally:
                drop(client, s.key_prefix)
            out.append({"used_b": (after - before) / n, "usage_b": usage / n, "lookup_per_s": n / lookup_s})
    finally:
        client.close()
    return out
