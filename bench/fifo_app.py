"""Plain Celery as users run it today: one FIFO queue, Celery's own per-worker rate_limit."""

import os
import time

import redis
from celery import Celery

BROKER = os.environ["BENCH_BROKER"]
app = Celery("bench_fifo", broker=BROKER)
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True, task_acks_late=True,
                worker_prefetch_multiplier=1, broker_transport_options={"global_keyprefix": "benchfifo:"},
                worker_hijack_root_logger=False)
_client = None


# 7/s per worker process x 2 processes = the 14/s SES rate: Celery's rate_limit is per worker instance.
@app.task(name="bench.fifo_send", rate_limit="7/s")
def fifo_send(payload):
    global _client
    if _client is None:
        _client = redis.Redis.from_url(BROKER)
    _client.incr(os.environ.get("BENCH_COUNTER", "bench:fifo"))
    if payload["kind"] == "transactional":
        _client.set(os.environ.get("BENCH_FIRST_TX", "bench:fifo:tx"), time.time() - payload["t"])
