"""Transactional latency behind a bulk backlog, ses-ramp vs a plain single-queue FIFO Celery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import redis

from ses_ramp.config import Settings
from ses_ramp.producers import Producer


def _msgs(kind: str, n: int, tag: str) -> list[dict]:
    return [{"to": [f"{tag}{i}@example.com"], "subject": f"{tag} {i}", "text": "x", "kind": kind, **({"list": "news"} if kind == "bulk" else {})} for i in range(n)]


def transactional_p99(base: Settings, moto, backlog: int, probes: int, tmp: str, env_of) -> dict:
    """Queue `backlog` bulk messages, saturate the rate limit, then send `probes` transactional
    messages one at a time and time each from enqueue to the SES call (moto's arrival)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    s = base.model_copy(update={"key_prefix": f"bl{uuid.uuid4().hex[:6]}", "transport": "ses-api", "rate_per_s": 14.0, "rate_burst": 5})
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    arrivals: dict[str, float] = {}

    class Timed(list):
        def append(self, item):
            rid = _ramp_id(item)
            if rid:
                arrivals[rid] = time.perf_counter()
            super().append(item)

    backend.sent_messages = Timed(backend.sent_messages)
    p = Producer(s)
    t0 = time.perf_counter()
    p.enqueue_many(_msgs("bulk", backlog, "bulk"))
    enqueue_s = time.perf_counter() - t0
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk", "-c", "2",
                               "--without-gossip", "--without-mingle", "-l", "WARNING"], env=env_of(s),
                              stdout=open(f"{tmp}/latency.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.perf_counter() + 60
        while len(arrivals) < 30 and time.perf_counter() < deadline:  # the rate limit is saturated by bulk
            time.sleep(0.05)
        latencies = []
        for m in _msgs("transactional", probes, "tx"):
            [receipt] = p.enqueue_many([m])
            sent_at = time.perf_counter()
            while receipt.id not in arrivals:
                if time.perf_counter() - sent_at > 30:
                    raise TimeoutError("a transactional message waited 30 s")
                time.sleep(0.002)
            latencies.append(arrivals[receipt.id] - sent_at)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        p.close()
        backend.sent_messages = list(backend.sent_messages)
    latencies.sort()
    return {"p50_ms": latencies[len(latencies) // 2] * 1000, "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "target_ms": max(2 * 1000 / 14.0, 250.0), "backlog": backlog, "enqueue_backlog_s": enqueue_s}


def fifo_p99(url: str, backlog: int, observe_s: float, tmp: str) -> dict:
    """The same traffic through one FIFO Celery queue rate-limited to 14/s: how long the first
    transactional message waits. Observed for `observe_s`; if it is not reached, the wait is bounded
    below by what was observed and estimated from the measured drain rate."""
    counter, first_tx = f"bench:fifo:{uuid.uuid4().hex[:6]}", f"bench:fifo:tx:{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "BENCH_BROKER": url, "BENCH_COUNTER": counter, "BENCH_FIRST_TX": first_tx}
    os.environ.update({"BENCH_BROKER": url})
    from bench.fifo_app import app

    client = redis.Redis.from_url(url)
    with app.producer_or_acquire() as producer, producer.batch(max_size=1000):
        for i in range(backlog):
            app.send_task("bench.fifo_send", args=[{"kind": "bulk", "list": "news", "i": i}], producer=producer)
    tx_enqueued = time.time()
    app.send_task("bench.fifo_send", args=[{"kind": "transactional", "i": 0, "t": tx_enqueued}])
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "bench.fifo_app", "worker", "-c", "2", "--without-gossip",
                               "--without-mingle", "-l", "WARNING"], env=env, stdout=open(f"{tmp}/fifo.log", "wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < observe_s and not client.get(first_tx):
            time.sleep(0.05)
        done = int(client.get(counter) or 0)
        waited = client.get(first_tx)
        elapsed = time.perf_counter() - t0
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        for key in client.scan_iter("benchfifo:*", count=1000):
            client.delete(key)
        client.delete(counter, first_tx)
    if waited:
        return {"p99_ms": float(waited) * 1000, "estimated": False}
    rate = max(done / elapsed, 1e-9)
    return {"p99_ms": backlog / rate * 1000, "estimated": True, "observed_s": elapsed, "drained": done}


def _ramp_id(sent) -> str | None:
    import email

    raw = getattr(sent, "raw_data", None)
    return None if raw is None else email.message_from_string(raw).get("X-Ses-Ramp-Id")
