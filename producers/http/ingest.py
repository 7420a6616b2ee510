"""`POST /v1/messages` and `GET /v1/status`: the producer's validation and enqueue over HTTP.

A request is one message (a JSON object) or a batch (a JSON array). Every item is validated exactly
as `Producer.enqueue_many` validates it; if any item is refused, the answer is 422 with one error per
refused item (its index, field and problem) and nothing from the batch is enqueued. 413: the body or
the batch is too large. 503 with Retry-After: Redis is unreachable (nothing was enqueued, or the body
says exactly which messages were).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers.enqueue import Producer, Receipt
from ses_ramp.producers.errors import BatchPartiallyPublished, InvalidMessage, QueueUnavailable
from ses_ramp.producers.http.auth import BearerCheck
from ses_ramp.producers.message import Message
from ses_ramp.producers.queues import queue_depths

RETRY_AFTER_S = 5


class TooLarge(Exception):
    pass


def problem(status: int, errors: list[dict[str, Any]], **extra: Any) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return JSONResponse({"errors": errors, **extra}, status_code=status, headers=headers)


def _receipts(receipts: list[Receipt]) -> list[dict[str, Any]]:
    return [{"id": r.id, "idempotency_key": r.idempotency_key, "kind": r.kind, "recipients": r.recipients,
             "estimated_send_date": r.estimated_send_date} for r in receipts]


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The body, read in chunks and refused as soon as it passes `max_bytes` (never held whole)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def message_request_body() -> dict[str, Any]:
    """The OpenAPI requestBody: one Message or an array of them (the Message schema is added by app.py)."""
    ref = {"$ref": "#/components/schemas/Message"}
    return {"required": True, "content": {"application/json": {"schema": {"oneOf": [ref, {"type": "array", "items": ref}]}}}}


def router(settings: Settings, producer: Producer) -> APIRouter:
    api = APIRouter()
    auth = BearerCheck(settings)
    error_schema = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}

    @api.post(
        "/v1/messages", status_code=202, dependencies=[Depends(auth)], tags=["ingest"],
        summary="Enqueue one message or a batch",
        openapi_extra={"requestBody": message_request_body(), "security": [{"bearer": []}]},
        responses={202: {"description": "Enqueued; one receipt per message, in order",
                         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipts"}}}},
                   401: {"description": "No bearer token"}, 403: {"description": "Token not accepted"},
                   400: {"description": "Body not JSON", **error_schema},
                   413: {"description": "Body or batch too large", **error_schema},
                   415: {"description": "Not application/json", **error_schema},
                   422: {"description": "One error per refused item; nothing was enqueued", **error_schema},
                   503: {"description": "Redis unreachable; retry after Retry-After seconds", **error_schema}},
    )
    async def post_messages(request: Request) -> JSONResponse:
        try:
            body = await read_limited(request, settings.serve_max_body_bytes)
        except TooLarge:
            return problem(413, [{"index": None, "field": "body", "message": f"larger than {settings.serve_max_body_bytes} bytes (RAMP_SERVE_MAX_BODY_BYTES)"}])
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
            return problem(415, [{"index": None, "field": "content-type",
                                   "message": f"{media or 'no content type'}: send application/json"}])
        try:
            data = json.loads(body)
        except ValueError as exc:
            return problem(400, [{"index": None, "field": "body", "message": f"not JSON: {exc}"}])
        except RecursionError:  # 1000-deep nesting: the parser's own limit, not a server error
            return problem(400, [{"index": None, "field": "body", "message": "JSON nested too deeply"}])
        items = [data] if isinstance(data, dict) else data
        if not isinstance(items, list) or not items:
            return problem(422, [{"index": None, "field": "body", "message": "a message (JSON object) or a non-empty array of them"}])
        if len(items) > settings.serve_max_batch:
            return problem(413, [{"index": None, "field": "body", "message": f"{len(items)} messages; at most {settings.serve_max_batch} (RAMP_SERVE_MAX_BATCH)"}])
        try:
            checked = await run_in_threadpool(producer.check_each, items)
        except QueueUnavailable as exc:
            return problem(503, [{"index": None, "field": "redis", "message": str(exc)}])
        errors = [{"index": i, "field": r.field, "message": r.problem} for i, r in enumerate(checked) if isinstance(r, InvalidMessage)]
        if errors:
            return problem(422, errors)
        messages = [m for m in checked if isinstance(m, Message)]
        try:
            receipts = await run_in_threadpool(producer.publish_many, messages)
        except BatchPartiallyPublished as exc:
            return problem(503, [{"index": None, "field": "queue", "message": str(exc)}],
                            published=exc.published, unconfirmed=exc.unconfirmed)
        except QueueUnavailable as exc:
            return problem(503, [{"index": None, "field": "queue", "message": str(exc)}])
        return JSONResponse({"receipts": _receipts(receipts)}, status_code=202)

    @api.get("/v1/status", dependencies=[Depends(auth)], tags=["ingest"], summary="Queues, pauses and today's budget (read-only)",
             openapi_extra={"security": [{"bearer": []}]}, responses={401: {"description": "No bearer token"},
                                                                      403: {"description": "Token not accepted"},
                                                                      503: {"description": "Redis unreachable"}})
    def status() -> JSONResponse:
        try:
            return JSONResponse(read_status(producer.redis_client(), settings.key_prefix))
        except QueueUnavailable as exc:
            return problem(503, [{"index": None, "field": "redis", "message": str(exc)}])

    return api


def read_status(client: Any, prefix: str) -> dict[str, Any]:
    from redis.exceptions import RedisError

    keys = Keys(prefix)
    try:
        day = client.hgetall(keys.day)
        return {
            "queues": queue_depths(client, prefix),
            "paused": {k: json.loads(v) for k, v in client.hgetall(keys.pause).items()},
            "today": {"date": day.get("date"), "cap": int(day.get("cap", 0)), "used": int(day.get("used", 0)),
                      "sent": int(day.get("sent", 0))},
            "suppressed": client.scard(keys.suppressed),
        }
    except RedisError as exc:
        raise QueueUnavailable(prefix, exc, f"Redis unreachable: {exc}") from None
