"""Plain Celery as users run it today: one FIFO queue, and the SES rate (14/s) as Celery's own
`rate_limit`. Celery applies a rate limit per worker instance, so the bench runs exactly one
instance: 14/s fleet-wide. Each task records when it ran (the bench reads the first and last)."""

import os
import time

import redis
from celery import Celery

BROKER = os.environ["BENCH_BROKER"]
PREFIX = os.environ["BENCH_PREFIX"]
app = Celery("bench_fifo", broker=BROKER)
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True, task_acks_late=True,
                worker_prefetch_multiplier=1, broker_transport_options={"global_keyprefix": f"{PREFIX}:"},
                worker_hijack_root_logger=False)
_client = None


@app.task(name="bench.fifo_send", rate_limit="14/s")
def fifo_send(payload):
    global _client
    if _client is None:
        _client = redis.Redis.from_url(BROKER)
    now = time.time()
    with _client.pipeline(transaction=False) as pipe:
        pipe.incr(f"{PREFIX}:done")
        pipe.setnx(f"{PREFIX}:first", now)
        pipe.set(f"{PREFIX}:last", now)
        if payload["kind"] == "transactional":
            pipe.set(f"{PREFIX}:tx_waited", now - payload["t"])
        pipe.execute()
