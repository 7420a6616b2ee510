"""Thin Celery tasks: unpack, call plain code, map infrastructure failures to a requeue."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from celery import Celery
from celery.exceptions import Reject
from redis.exceptions import ConnectionError, RedisError, TimeoutError

from ses_ramp.config import Settings
from ses_ramp.producers.redis_client import describe_refusal
from ses_ramp.producers.wire import CAMPAIGN_CHUNK_TASK, CAMPAIGN_TASK, SEND_TASK
from ses_ramp.worker.send.runtime import get_runtime

log = structlog.get_logger(logger_name="ses_ramp.task")


#: A refusal (OOM, NOREPLICAS, READONLY) answers at once: pause this child before the message goes back,
#: so a refusing Redis is not hammered with the same message in a tight loop.
REFUSED_PAUSE_S = 1.0


def register_tasks(app: Celery, settings: Settings) -> None:
    # The tasks take any arguments: Celery binds them before the body runs, and a TypeError there (an
    # extra keyword from a newer producer or a tracing middleware, a missing one) would be acked and
    # lost. `bind_arguments` reads what it knows and the body dead-letters what it cannot read.
    @app.task(name=SEND_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def send(*args: Any, **kwargs: Any) -> None:
        _run(settings, "handle", args, kwargs)

    @app.task(name=CAMPAIGN_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def send_campaign(*args: Any, **kwargs: Any) -> None:
        _run(settings, "handle_campaign", args, kwargs)

    @app.task(name=CAMPAIGN_CHUNK_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def send_campaign_chunk(*args: Any, **kwargs: Any) -> None:
        _run(settings, "handle_campaign_chunk", args, kwargs, first="chunk")


def bind_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], first: str = "message") -> tuple[Any, int, str]:
    """(message, attempt, problem) from a task's arguments, tolerant of keywords it does not know.
    `problem` is "" when the message and attempt could be read."""
    rest = list(args)
    message = rest.pop(0) if rest else kwargs.get(first, kwargs.get("message"))
    attempt = rest.pop(0) if rest else kwargs.get("attempt", 0)
    if not isinstance(message, dict):
        return message, 0, f"unreadable task arguments: no {first} object (args={len(args)}, kwargs={sorted(kwargs)})"
    try:
        return message, max(0, int(attempt)), ""
    except (TypeError, ValueError):
        return message, 0, f"unreadable task arguments: attempt {attempt!r}"


def _run(settings: Settings, how: str, args: tuple[Any, ...], kwargs: dict[str, Any], first: str = "message") -> None:
    runtime = get_runtime(settings)
    message, attempt, problem = bind_arguments(args, kwargs, first)
    if problem:
        _dead_letter(runtime, message, 0, problem)
        return
    try:
        getattr(runtime.sender, how)(message, attempt)
    except RedisError as exc:
        # Our Redis is unreachable even after the client's retries, or refused a write: hand the
        # message back to the broker untouched (no attempt spent); redelivery is safe thanks to
        # idempotency. A broker that refuses the requeue too leaves it in kombu's `unacked` hash,
        # restored after RAMP_VISIBILITY_TIMEOUT_S.
        log.error("send_redis_unavailable", message_id=message.get("id"), error=describe_refusal(exc))
        if not isinstance(exc, ConnectionError | TimeoutError):
            time.sleep(REFUSED_PAUSE_S)
        raise Reject(f"redis unavailable: {exc}", requeue=True) from exc
    except Exception as exc:
        # A bug must not lose the message (Celery would ack a failed task): dead-letter it with
        # the error so an operator can `ramp dead retry` it once fixed.
        log.exception("send_task_failed", message_id=message.get("id"))
        _dead_letter(runtime, message, attempt, f"internal error: {exc!r}")


def _dead_letter(runtime: Any, message: Any, attempt: int, why: str) -> None:
    kept = message if isinstance(message, dict) and "id" in message else {"id": uuid.uuid4().hex, "invalid": repr(message)[:2000]}
    try:
        runtime.deferrals.dead_letter(kept, attempt, why, runtime.budget.now_ms())
    except RedisError as exc:
        raise Reject(f"{why}, and redis unavailable: {exc}", requeue=True) from exc
