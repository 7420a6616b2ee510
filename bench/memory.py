"""A large waiting backlog, equal counts on both sides: `n` ses-ramp messages that find no budget
(each parked in the deferred sorted set) against `n` Celery ETA tasks (held in the worker's memory).
Both worker RSS (the process tree) and Redis `used_memory` are reported, before and after."""

from __future__ import annotations

import sys
import time
import uuid

import psutil
import redis

from bench.bare_app import make_app
from bench.guard import PREFIX, Processes
from bench.hotpath import WORKER_FLAGS, messages, scoped, wait_until
from ses_ramp.config import Settings
from ses_ramp.producers import Producer


def tree_rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def used_mb(client: redis.Redis) -> float:
    return int(client.info("memory")["used_memory"]) / 2**20


def settled_rss(pid: int) -> float:
    """RSS once it stops moving (two reads 0.5 s apart within 1 MB), so a late allocation is seen."""
    last = tree_rss_mb(pid)
    for _ in range(40):
        time.sleep(0.5)
        now = tree_rss_mb(pid)
        if abs(now - last) < 1.0:
            return now
        last = now
    return last


def ramp_deferred(base: Settings, n: int, procs: Processes, tmp: str, env_of) -> dict:
    s = scoped(base, "mem", transport="noop", warmup_start_per_day=1, warmup_target_per_day=1, warmup_days=1)
    client = redis.Redis.from_url(s.effective_redis_url)
    deferred_key = f"{s.key_prefix}:{{{s.key_prefix}}}:deferred"
    worker = procs.start([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk",
                          "-c", "2", *WORKER_FLAGS], env_of(s), f"{tmp}/mem.log")
    try:
        p = Producer(s)
        p.enqueue_many(messages(2, "bulk", "warm"))  # the day's one recipient goes; the other waits: the worker is warm
        wait_until(lambda: client.zcard(deferred_key) >= 1, 60, "the first deferred message", 0.05)
        rss0, mem0 = settled_rss(worker.pid), used_mb(client)
        p.enqueue_many(messages(n, "bulk", "u"))
        p.close()
        wait_until(lambda: client.zcard(deferred_key) >= n + 1, 900, f"{n:,} deferred messages", 0.2)
        return {"n": n, "rss_before_mb": rss0, "rss_after_mb": settled_rss(worker.pid),
                "redis_before_mb": mem0, "redis_after_mb": used_mb(client)}
    finally:
        procs.stop(worker)
        client.close()


def celery_eta(url: str, n: int, procs: Processes, tmp: str, env: dict) -> dict:
    prefix = f"{PREFIX}:eta{uuid.uuid4().hex[:6]}"
    app = make_app(url, prefix)
    client = redis.Redis.from_url(url)
    worker = procs.start([sys.executable, "-m", "celery", "-A", "bench.bare_app", "worker", "-c", "2", *WORKER_FLAGS],
                         {**env, "BENCH_BROKER": url, "BENCH_PREFIX": prefix}, f"{tmp}/eta.log")
    try:
        wait_until(lambda: app.control.ping(timeout=0.5), 60, "the ETA worker to answer", 0.1)
        rss0, mem0 = settled_rss(worker.pid), used_mb(client)
        with app.producer_or_acquire() as producer:
            for i in range(n):
                app.send_task("bench.noop", args=[{"i": i}], countdown=3600, producer=producer)
        # The worker has taken every one when kombu's unacked hash holds them all (acks_late: an ETA
        # task stays unacknowledged, in the worker's memory, until it runs).
        wait_until(lambda: client.hlen(f"{prefix}:unacked") >= n, 900, f"the worker to hold {n:,} ETA tasks", 0.5)
        return {"n": n, "rss_before_mb": rss0, "rss_after_mb": settled_rss(worker.pid),
                "redis_before_mb": mem0, "redis_after_mb": used_mb(client)}
    finally:
        procs.stop(worker)
        app.close()
        client.close()
