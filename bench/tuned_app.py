"""Celery set up like ses-ramp's worker, without ses-ramp's work: the same `celery_config` (queues,
priorities, the nameless exchange, acks late, no prefetch), ses-ramp's own broker transport (one redis-py
client per channel, its delivery record) and consumer, and a task under ses-ramp's task name that only
counts. Drained against ses-ramp's worker, the gate, settle and the sender are the difference (and
ses-ramp's housekeeping thread, which its workers run too). `celery -A bench.tuned_app` reads the
RAMP_* settings and BENCH_DONE_KEY."""

from __future__ import annotations

import os
from typing import Any

import redis
from celery import Celery

from ses_ramp.config import Settings, load_settings
from ses_ramp.producers.wire import CAMPAIGN_CHUNK_TASK, CAMPAIGN_TASK, SEND_TASK, celery_config
from ses_ramp.worker.send.delivery import transport_for


def make_app(settings: Settings, done_key: str) -> Celery:
    app = Celery("bench_tuned", set_as_current=True)
    app.conf.update(celery_config(settings))
    app.conf.broker_transport = transport_for(settings.effective_broker_url)
    app.conf.worker_consumer = "ses_ramp.worker.send.delivery:Consumer"
    client: redis.Redis | None = None

    def count(*_args: Any, **_kwargs: Any) -> None:
        # One Redis round trip, as the bare baseline's: the cheapest honest "the work happened" signal.
        nonlocal client
        if client is None:
            client = redis.Redis.from_url(settings.effective_redis_url)
        client.incr(done_key)

    for name in (SEND_TASK, CAMPAIGN_TASK, CAMPAIGN_CHUNK_TASK):
        app.task(name=name, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(count)
    return app


if os.environ.get("BENCH_DONE_KEY"):
    app = make_app(load_settings(), os.environ["BENCH_DONE_KEY"])
