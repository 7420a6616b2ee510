"""Worker memory with a large deferred backlog: ses-ramp's Redis sorted set vs Celery ETA tasks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import psutil
import redis

from ses_ramp.config import Settings
from ses_ramp.producers import Producer


def tree_rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def _wait(pred, timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    while not pred():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step did not finish")
        time.sleep(0.2)


def ramp_deferred_rss(base: Settings, n: int, tmp: str, env_of) -> dict:
    """A real worker takes `n` messages that find no budget; each goes to the deferred set."""
    s = base.model_copy(update={"key_prefix": f"bm{uuid.uuid4().hex[:6]}", "transport": "noop",
                                "warmup_start_per_day": 1, "warmup_target_per_day": 1, "warmup_days": 1})
    client = redis.Redis.from_url(s.effective_redis_url)
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk", "-c", "2",
                               "--without-gossip", "--without-mingle", "-l", "WARNING"], env=env_of(s),
                              stdout=open(f"{tmp}/mem.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        from ses_ramp.worker.app import create_app

        app = create_app(s)
        _wait(lambda: app.control.ping(timeout=0.5), 60)
        p = Producer(s)
        p.enqueue_many([{"to": ["warm@example.com"], "subject": "w", "text": "x", "kind": "bulk", "list": "news"}] * 1)
        deferred_key = f"{s.key_prefix}:{{{s.key_prefix}}}:deferred"
        _wait(lambda: client.zcard(deferred_key) + 1 >= 1, 30)
        time.sleep(1)
        before = tree_rss_mb(worker.pid)
        p.enqueue_many([{"to": [f"u{i}@example.com"], "subject": "s", "text": "x", "kind": "bulk", "list": "news"} for i in range(n)])
        p.close()
        t0 = time.perf_counter()
        _wait(lambda: client.zcard(deferred_key) >= n, 900)
        elapsed = time.perf_counter() - t0
        after = tree_rss_mb(worker.pid)
        app.close()
        return {"n": n, "before_mb": before, "after_mb": after, "added_mb": after - before, "deferral_rate": n / elapsed}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        for key in client.scan_iter(f"{s.key_prefix}:*", count=5000):
            client.delete(key)


def celery_eta_rss(url: str, n: int, tmp: str) -> dict:
    """Bare Celery holding `n` countdown (ETA) tasks: they all sit in the worker's memory."""
    counter = f"bench:eta:{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "BENCH_BROKER": url, "BENCH_COUNTER": counter}
    os.environ["BENCH_BROKER"] = url
    from bench.bare_app import app

    client = redis.Redis.from_url(url)
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "bench.bare_app", "worker", "-c", "2", "--without-gossip",
                               "--without-mingle", "-l", "WARNING"], env=env, stdout=open(f"{tmp}/eta.log", "wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: app.control.ping(timeout=0.5), 60)
        time.sleep(1)
        before = tree_rss_mb(worker.pid)
        with app.producer_or_acquire() as producer, producer.batch(max_size=1000):
            for i in range(n):
                app.send_task("bench.noop", args=[{"i": i}], countdown=3600, producer=producer)
        queue_empty = lambda: sum(client.llen(k) for k in client.scan_iter("benchbare:celery*") if client.type(k) == b"list") == 0  # noqa: E731
        _wait(queue_empty, 600)
        time.sleep(2)
        after = tree_rss_mb(worker.pid)
        return {"n": n, "before_mb": before, "after_mb": after, "added_mb": after - before}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        for key in client.scan_iter("benchbare:*", count=5000):
            client.delete(key)
