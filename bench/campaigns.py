"""Campaigns at warm-up scale: what a queued campaign recipient costs in Redis, a million of them,
`enqueue_campaign` against `enqueue_many` of the same recipients as plain messages, and the drain
of campaign messages against bare Celery's, same broker, pool and options.

The content is the size figure's typical bulk message (about 3 KB of HTML and text) with a merge
field in the subject and in each body.
"""

from __future__ import annotations

import sys
import time

import redis

from bench.bare_app import make_app
from bench.guard import PREFIX, Processes
from bench.hotpath import WORKER_FLAGS, first_to_last, scoped
from bench.pairs import Paired, abba
from bench.size import HTML, TEXT
from ses_ramp.config import Settings
from ses_ramp.producers import Producer

CONTENT = {"subject": "This week at Acme, {{ first_name }}", "html": HTML.replace("<body>", "<body><p>Dear {{ first_name }},</p>"),
           "text": "Dear {{ first_name }},\n" + TEXT, "kind": "bulk", "list": "news"}


def recipients(n: int, tag: str = "c") -> list[dict]:
    return [{"email": f"{tag}{i}@example{i % 500}.com", "first_name": f"Reader{i}", "engagement": (i % 10) / 10} for i in range(n)]


def plain(n: int, tag: str = "p") -> list[dict]:
    """The same recipients as whole messages, rendered by the app as it would without campaigns."""
    return [{"to": [f"{tag}{i}@example{i % 500}.com"], "subject": f"This week at Acme, Reader{i}",
             "html": CONTENT["html"].replace("{{ first_name }}", f"Reader{i}"), "text": CONTENT["text"].replace("{{ first_name }}", f"Reader{i}"),
             "kind": "bulk", "list": "news", "engagement": (i % 10) / 10} for i in range(n)]


def drop(client: redis.Redis, prefix: str) -> None:
    """Delete one run's keys at once: runs must not add up in the Redis being measured."""
    for batch in batches(client.scan_iter(f"{prefix}*", count=5000), 5000):
        client.unlink(*batch)


def batches(it, size: int):
    batch = []
    for item in it:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def enqueue_pairs(base: Settings, n: int, pairs: int) -> tuple[Paired, Paired]:
    """(recipients/s, Redis bytes per queued recipient), `enqueue_many` of `n` plain messages (A)
    against `enqueue_campaign` of the same `n` recipients (B)."""
    client = redis.Redis.from_url(base.effective_redis_url)
    sizes = Paired([], [])

    def run(campaign: bool) -> float:
        s = scoped(base, "cq")
        items = recipients(n) if campaign else plain(n)
        p = Producer(s)
        before = used(client)
        t0 = time.perf_counter()
        if campaign:
            p.enqueue_campaign(CONTENT, items)
        else:
            p.enqueue_many(items)
        rate = n / (time.perf_counter() - t0)
        (sizes.b if campaign else sizes.a).append((used(client) - before) / n)
        p.close()
        drop(client, s.key_prefix)
        return rate

    speed = abba(lambda: run(False), lambda: run(True), pairs)
    client.close()
    return speed, sizes


def million(base: Settings, n: int) -> dict:
    """One `enqueue_campaign` of `n` recipients: wall time (the recipient list built before the
    clock starts) and Redis `used_memory` before and after."""
    client = redis.Redis.from_url(base.effective_redis_url)
    s = scoped(base, "cm")
    items = recipients(n, "m")
    p = Producer(s)
    try:
        before = used(client)
        t0 = time.perf_counter()
        receipt = p.enqueue_campaign(CONTENT, items)
        seconds = time.perf_counter() - t0
        after = used(client)
    finally:
        p.close()
        drop(client, s.key_prefix)
        client.close()
    return {"n": receipt.recipients, "seconds": seconds, "redis_mb": (after - before) / 2**20}


def million_plain(base: Settings, n: int, batch: int = 10_000) -> dict:
    """The same `n` recipients as whole messages through `enqueue_many` (in batches of `batch`, each
    built just before it is enqueued: a million rendered messages do not fit in the bench's memory at
    once, and building them is timed out): wall time of the enqueues and Redis `used_memory`."""
    client = redis.Redis.from_url(base.effective_redis_url)
    s = scoped(base, "cp")
    p = Producer(s)
    seconds = 0.0
    try:
        before = used(client)
        for start in range(0, n, batch):
            items = plain(min(batch, n - start), f"p{start}-")
            t0 = time.perf_counter()
            p.enqueue_many(items)
            seconds += time.perf_counter() - t0
        after = used(client)
    finally:
        p.close()
        drop(client, s.key_prefix)
        client.close()
    return {"n": n, "seconds": seconds, "redis_mb": (after - before) / 2**20}


def drain_pairs(base: Settings, n: int, concurrency: int, pairs: int, procs: Processes, tmp: str, env_of) -> Paired:
    """msg/s of a real worker draining `n` messages: bare Celery's noop task (A) against ses-ramp's
    worker sending a campaign of `n` recipients (fed, rendered, gated, no-op transport) (B); timed
    from the first message to the last, with everything queued (or stored) before the worker starts."""
    url = base.effective_redis_url
    client = redis.Redis.from_url(url)

    def timed(read, argv: list[str], env: dict, name: str, prefix: str) -> float:
        try:
            return first_to_last(procs, argv, env, f"{tmp}/{name}.log", read, n, name)
        finally:
            drop(client, prefix)

    def bare() -> float:
        prefix = f"{PREFIX}:cbare{time.monotonic_ns() % 10**6}"
        app = make_app(url, prefix)
        with app.producer_or_acquire() as producer:
            for payload in plain(n):
                app.send_task("bench.noop", args=[payload], producer=producer)
        app.close()
        env = {**env_of(base), "BENCH_BROKER": url, "BENCH_PREFIX": prefix}
        return timed(lambda: int(client.get(f"{prefix}:done") or 0),
                     [sys.executable, "-m", "celery", "-A", "bench.bare_app", "worker", "-c", str(concurrency), *WORKER_FLAGS],
                     env, "cbare", prefix)

    def campaign() -> float:
        s = scoped(base, "cd", transport="noop")
        p = Producer(s)
        receipt = p.enqueue_campaign(CONTENT, recipients(n))
        p.close()
        key = f"{s.key_prefix}:{{{s.key_prefix}}}:campaign:{receipt.campaign_id}"
        return timed(lambda: int(client.hget(key, "settled") or 0),
                     [sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk",
                      "-c", str(concurrency), *WORKER_FLAGS], env_of(s), "campaign", s.key_prefix)

    paired = abba(bare, campaign, pairs)
    client.close()
    return paired
