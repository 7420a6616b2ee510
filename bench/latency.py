"""Transactional latency behind a bulk backlog at the SES rate (14/s): ses-ramp against a plain FIFO
Celery whose single consumer holds 14/s with a token bucket (`bench/fifo_app.py`). Both get the same
backlog, small enough for the FIFO to finish, and every figure
is measured: nothing is estimated from a rate."""

from __future__ import annotations

import sys
import time
import uuid

import redis

from bench.guard import PREFIX, Processes
from bench.hotpath import WORKER_FLAGS, messages, scoped, wait_until
from ses_ramp.config import Settings
from ses_ramp.producers import Producer

RATE_PER_S = 14.0


def ramp_transactional(base: Settings, moto, backlog: int, probes: int, procs: Processes, tmp: str, env_of) -> dict:
    """Queue `backlog` bulk messages; once bulk saturates the rate, send `probes` transactional
    messages one at a time, each timed from enqueue to its arrival at SES (moto)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    s = scoped(base, "lt", transport="ses-api", rate_per_s=RATE_PER_S, rate_burst=5)
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
    p.enqueue_many(messages(backlog, "bulk", "bulk"))
    worker = procs.start([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk",
                          "-c", "2", *WORKER_FLAGS], env_of(s), f"{tmp}/latency.log")
    try:
        wait_until(lambda: len(arrivals) >= 30, 60, "bulk to saturate the rate", 0.05)
        latencies = []
        for m in messages(probes, "transactional", "tx"):
            [receipt] = p.enqueue_many([m])
            sent_at = time.perf_counter()
            wait_until(lambda rid=receipt.id: rid in arrivals, 30, "a transactional message", 0.002)
            latencies.append(arrivals[receipt.id] - sent_at)
    finally:
        procs.stop(worker)
        p.close()
        backend.sent_messages = list(backend.sent_messages)
    latencies.sort()
    return {"p50_ms": latencies[len(latencies) // 2] * 1000, "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "max_ms": latencies[-1] * 1000, "probes": probes, "backlog": backlog}


def fifo_transactional(url: str, backlog: int, procs: Processes, tmp: str, env: dict) -> dict:
    """The same backlog through one FIFO queue at 14/s, then one transactional message: its wait,
    and the queue's throughput from its first to its last message, both measured."""
    prefix = f"{PREFIX}:fifo{uuid.uuid4().hex[:6]}"
    env = {**env, "BENCH_BROKER": url, "BENCH_PREFIX": prefix}
    from celery import Celery

    app = Celery("bench_fifo", broker=url)
    app.conf.update(task_serializer="json", broker_transport_options={"global_keyprefix": f"{prefix}:"})
    client = redis.Redis.from_url(url)
    with app.producer_or_acquire() as producer:
        for i in range(backlog):
            app.send_task("bench.fifo_send", args=[{"kind": "bulk", "i": i}], producer=producer)
    worker = procs.start([sys.executable, "-m", "celery", "-A", "bench.fifo_app", "worker", "-c", "1", *WORKER_FLAGS], env,
                         f"{tmp}/fifo.log")
    try:
        wait_until(lambda: client.get(f"{prefix}:first"), 120, "the FIFO worker's first message", 0.05)
        app.send_task("bench.fifo_send", args=[{"kind": "transactional", "t": time.time()}])
        wait_until(lambda: client.get(f"{prefix}:tx_waited"), backlog / RATE_PER_S * 3 + 60, "the FIFO's transactional message", 0.05)
        done = int(client.get(f"{prefix}:done") or 0)
        first, last = float(client.get(f"{prefix}:first")), float(client.get(f"{prefix}:last"))
        waited_s = float(client.get(f"{prefix}:tx_waited"))
    finally:
        procs.stop(worker)
        app.close()
        client.close()
    return {"waited_ms": waited_s * 1000, "rate_per_s": (done - 1) / (last - first), "done": done, "backlog": backlog}


def _ramp_id(sent) -> str | None:
    import email

    raw = getattr(sent, "raw_data", None)
    return None if raw is None else email.message_from_string(raw).get("X-Ses-Ramp-Id")
