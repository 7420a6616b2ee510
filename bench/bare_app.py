"""Bare Celery for comparison: a no-op task on the same broker, pool and safety settings as ses-ramp.
`celery -A bench.bare_app` reads BENCH_BROKER and BENCH_PREFIX; the bench itself calls `make_app`."""

import os

import redis
from celery import Celery


def make_app(broker: str, prefix: str) -> Celery:
    app = Celery("bench_bare", broker=broker)
    app.conf.update(
        task_serializer="json", accept_content=["json"], task_ignore_result=True, task_acks_late=True,
        worker_prefetch_multiplier=1, worker_disable_prefetch=True,
        broker_transport_options={"global_keyprefix": f"{prefix}:", "priority_steps": list(range(10)), "sep": ":",
                                  "queue_order_strategy": "priority"},
        worker_hijack_root_logger=False,
    )
    client = None

    @app.task(name="bench.noop")
    def noop(payload):
        # One Redis round trip, as the cheapest honest "the work happened" signal.
        nonlocal client
        if client is None:
            client = redis.Redis.from_url(broker)
        client.incr(f"{prefix}:done")

    return app


if os.environ.get("BENCH_BROKER"):
    app = make_app(os.environ["BENCH_BROKER"], os.environ["BENCH_PREFIX"])
