"""Thin Celery tasks: unpack, call plain code, map infrastructure failures to a requeue."""

from __future__ import annotations

import structlog
from celery import Celery
from celery.exceptions import Reject
from redis.exceptions import RedisError

from ses_ramp.config import Settings
from ses_ramp.producers.wire import CAMPAIGN_CHUNK_TASK, CAMPAIGN_TASK, SEND_TASK
from ses_ramp.worker.runtime import get_runtime

log = structlog.get_logger(logger_name="ses_ramp.task")


def register_tasks(app: Celery, settings: Settings) -> None:
    @app.task(name=SEND_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def send(message: dict, attempt: int = 0) -> None:
        _run(settings, "handle", message, attempt)

    @app.task(name=CAMPAIGN_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def send_campaign(message: dict, attempt: int = 0) -> None:
        _run(settings, "handle_campaign", message, attempt)

    @app.task(name=CAMPAIGN_CHUNK_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def send_campaign_chunk(chunk: dict, attempt: int = 0) -> None:
        _run(settings, "handle_campaign_chunk", chunk, attempt)


def _run(settings: Settings, how: str, message: dict, attempt: int) -> None:
    runtime = get_runtime(settings)
    try:
        getattr(runtime.sender, how)(message, attempt)
    except RedisError as exc:
        # Our Redis is unreachable even after the client's retries: hand the message back to
        # the broker untouched (no attempt spent); redelivery is safe thanks to idempotency.
        raise Reject(f"redis unavailable: {exc}", requeue=True) from exc
    except Exception as exc:
        # A bug must not lose the message (Celery would ack a failed task): dead-letter it with
        # the error so an operator can `ramp dead retry` it once fixed.
        log.exception("send_task_failed", message_id=message.get("id") if isinstance(message, dict) else None)
        try:
            runtime.deferrals.dead_letter(
                message if isinstance(message, dict) and "id" in message else {"id": "invalid", "raw": repr(message)[:2000]},
                attempt, f"internal error: {exc!r}", runtime.budget.now_ms(),
            )
        except RedisError:
            raise Reject(f"internal error and redis unavailable: {exc!r}", requeue=True) from exc
