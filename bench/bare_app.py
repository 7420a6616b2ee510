"""Bare Celery for comparison: a no-op task on the same broker, pool and safety settings as ses-ramp."""

import os

import redis
from celery import Celery

BROKER = os.environ["BENCH_BROKER"]
COUNTER = os.environ.get("BENCH_COUNTER", "bench:bare:done")

app = Celery("bench_bare", broker=BROKER)
app.conf.update(
    task_serializer="json", accept_content=["json"], task_ignore_result=True, task_acks_late=True,
    worker_prefetch_multiplier=1, worker_disable_prefetch=True,
    broker_transport_options={"global_keyprefix": "benchbare:", "priority_steps": list(range(10)), "sep": ":", "queue_order_strategy": "priority"},
    worker_hijack_root_logger=False,
)
_client = None


@app.task(name="bench.noop")
def noop(payload):
    # One Redis round trip, as the cheapest honest "the work happened" signal.
    global _client
    if _client is None:
        _client = redis.Redis.from_url(BROKER)
    _client.incr(COUNTER)
