"""Plain Celery as users run it today: one FIFO queue at the SES rate (14/s). The rate is a token
bucket in the task of a single consumer (`-c 1`), so it holds fleet-wide. (Celery's own
`rate_limit="14/s"` on one instance was measured here at under 2 msg/s with acks_late and prefetch 1:
it would flatter ses-ramp.) Each task records when it ran; the bench reads the first and the last."""

import os
import time

import redis
from celery import Celery

BROKER = os.environ["BENCH_BROKER"]
PREFIX = os.environ["BENCH_PREFIX"]
RATE_PER_S = 14.0
app = Celery("bench_fifo", broker=BROKER)
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True, task_acks_late=True,
                worker_prefetch_multiplier=1, broker_transport_options={"global_keyprefix": f"{PREFIX}:"},
                worker_hijack_root_logger=False)
_client = None
_next_slot = 0.0


@app.task(name="bench.fifo_send")
def fifo_send(payload):
    global _client, _next_slot
    if _client is None:
        _client = redis.Redis.from_url(BROKER)
    now = time.monotonic()
    if _next_slot > now:
        time.sleep(_next_slot - now)  # the bucket: one message per 1/14 s
    _next_slot = max(now, _next_slot) + 1 / RATE_PER_S
    sent = time.time()
    with _client.pipeline(transaction=False) as pipe:
        pipe.incr(f"{PREFIX}:done")
        pipe.setnx(f"{PREFIX}:first", sent)
        pipe.set(f"{PREFIX}:last", sent)
        if payload["kind"] == "transactional":
            pipe.set(f"{PREFIX}:tx_waited", sent - payload["t"])
        pipe.execute()
