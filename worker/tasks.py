"""Thin Celery tasks: unpack, call plain code, map infrastructure failures to a requeue."""

from __future__ import annotations

from celery import Celery
from celery.exceptions import Reject
from redis.exceptions import RedisError

from ses_ramp.config import Settings
from ses_ramp.producers.wire import SEND_TASK
from ses_ramp.worker.runtime import get_runtime


def register_tasks(app: Celery, settings: Settings) -> None:
    @app.task(name=SEND_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def send(message: dict, attempt: int = 0) -> None:
        try:
            get_runtime(settings).sender.handle(message, attempt)
        except RedisError as exc:
            # Our Redis is unreachable even after the client's retries: hand the message back to
            # the broker untouched (no attempt spent); redelivery is safe thanks to idempotency.
            raise Reject(f"redis unavailable: {exc}", requeue=True) from exc
