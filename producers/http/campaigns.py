"""`POST /v1/campaigns`, `GET /v1/campaigns/{id}`, `POST /v1/campaigns/{id}/cancel`: campaigns through the
HTTP door, with the same checks and receipt as `ramp enqueue --campaign` (`Producer.enqueue_campaign`).

A campaign comes in one request, two ways:
- `application/json`: `{"content": {...}, "recipients": [{"email": ..., ...}], "campaign_id": ..., "expire_ok": false}`;
- `multipart/form-data`: a `content` field (the same JSON object, as text), optional `campaign_id` and
  `expire_ok` fields, and a `recipients` file: a CSV with a header row (`email`, optional `name` and
  `engagement`, every other column a merge field), as `ramp enqueue --campaign` reads. The upload is
  spooled to a temporary file as it arrives (never held whole in memory) and read row by row.

Either body may be at most RAMP_SERVE_MAX_CAMPAIGN_BYTES (128 MiB): a million recipients with an address and
a first name are about 40 MB of CSV. A larger list goes in as several campaigns (their ids, say, `spring-1`,
`spring-2`): each part is accepted or refused whole, as a campaign is.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ses_ramp.config import Settings
from ses_ramp.producers.campaigns import store
from ses_ramp.producers.campaigns.recipients import from_csv_text
from ses_ramp.producers.enqueue import Producer
from ses_ramp.producers.errors import InvalidMessage, QueueUnavailable
from ses_ramp.producers.http.auth import BearerCheck
from ses_ramp.producers.http.ingest import TooLarge, problem, read_limited
from ses_ramp.producers.redis_client import text_hash

_FIELDS = ("kind", "total", "fed", "settled", "suppressed", "duplicates", "undeliverable", "cancelled", "new", "sample", "held",
           "created_ms")
MAX_CONTENT_FIELD_BYTES = 1024 * 1024  # the multipart `content` field: a campaign's templates, never megabytes


def request_body() -> dict[str, Any]:
    """The OpenAPI requestBody of `POST /v1/campaigns` (CampaignContent's schema is added by app.py)."""
    options = {"campaign_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}, "expire_ok": {"type": "boolean"}}
    recipient = {"type": "object", "required": ["email"], "properties": {
        "email": {"type": "string"}, "name": {"type": "string"}, "engagement": {"type": "number", "minimum": 0, "maximum": 1}},
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]}}
    return {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["content", "recipients"], "properties": {
            "content": {"$ref": "#/components/schemas/CampaignContent"},
            "recipients": {"type": "array", "minItems": 1, "items": recipient}, **options}}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["content", "recipients"], "properties": {
            "content": {"type": "string", "description": "the CampaignContent JSON object, as text"},
            "recipients": {"type": "string", "format": "binary", "description": "CSV with a header row; an email column"},
            "campaign_id": options["campaign_id"], "expire_ok": {"type": "string", "enum": ["true", "false"]}}}}}}


def progress(client: Any, keys: Any, campaign_id: str) -> dict[str, Any] | None:
    """`GET /v1/campaigns/{id}`: the campaign's counters, its probe, and whether it is done."""
    raw = text_hash(client.hgetall(keys.campaign(campaign_id)))
    if not raw:
        return None
    out: dict[str, Any] = {"id": campaign_id, **{f: (raw[f] if f == "kind" else int(raw[f])) for f in _FIELDS if f in raw}}
    out["waiting"] = max(0, out.get("total", 0) - out.get("fed", 0))
    out["done"] = client.zscore(keys.campaigns, campaign_id) is None
    if raw.get("probe"):
        out["probe"] = {"state": raw["probe"], "reason": raw.get("probe_reason")}
    return out


def router(settings: Settings, producer: Producer) -> APIRouter:
    api = APIRouter()
    auth = BearerCheck(settings)
    errors = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}
    denied: dict[int | str, dict[str, Any]] = {401: {"description": "No bearer token"}, 403: {"description": "Token not accepted"}}
    limit = settings.serve_max_campaign_bytes

    @api.post("/v1/campaigns", status_code=202, dependencies=[Depends(auth)], tags=["campaigns"],
              summary="Enqueue a campaign: one content, many recipients (JSON, or a CSV upload)",
              openapi_extra={"requestBody": request_body(), "security": [{"bearer": []}]},
              responses={202: {"description": "Stored; the campaign's receipt (as `ramp enqueue --campaign` prints)"}, **denied,
                         400: {"description": "Body not JSON", **errors}, 409: {"description": "The campaign id is taken", **errors},
                         413: {"description": "Body larger than RAMP_SERVE_MAX_CAMPAIGN_BYTES", **errors},
                         415: {"description": "Neither JSON nor multipart/form-data", **errors},
                         422: {"description": "Refused; nothing was stored", **errors},
                         503: {"description": "Redis unreachable; retry after Retry-After seconds", **errors}})
    async def post_campaign(request: Request) -> JSONResponse:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        try:
            if media == "application/json":
                parsed = _json_campaign(await read_limited(request, limit))
            elif media == "multipart/form-data":
                parsed = await _form_campaign(request, limit)
            else:
                return problem(415, [{"index": None, "field": "content-type",
                                       "message": f"{media or 'no content type'}: send application/json or multipart/form-data"}])
        except TooLarge:
            return problem(413, [{"index": None, "field": "body", "message": f"larger than {limit} bytes (RAMP_SERVE_MAX_CAMPAIGN_BYTES)"}])
        except _BadBody as exc:
            return problem(400, [{"index": None, "field": "body", "message": str(exc)}])
        except InvalidMessage as exc:
            return problem(422, [{"index": None, "field": exc.field, "message": exc.problem}])
        content, recipients, campaign_id, expire_ok = parsed
        try:
            receipt = await run_in_threadpool(producer.enqueue_campaign, content, recipients, campaign_id=campaign_id, expire_ok=expire_ok)
        except InvalidMessage as exc:
            status = 409 if exc.field == "campaign_id" and "already exists" in exc.problem else 422
            return problem(status, [{"index": None, "field": exc.field, "message": exc.problem}])
        except UnicodeDecodeError as exc:
            return problem(422, [{"index": None, "field": "recipients", "message": f"the CSV is not UTF-8: {exc.reason}"}])
        except QueueUnavailable as exc:
            return problem(503, [{"index": None, "field": "redis", "message": str(exc)}])
        finally:
            if isinstance(recipients, _Upload):
                await recipients.close()
        return JSONResponse(asdict(receipt), status_code=202)

    @api.get("/v1/campaigns/{campaign_id}", dependencies=[Depends(auth)], tags=["campaigns"], summary="A campaign's progress",
             openapi_extra={"security": [{"bearer": []}]},
             responses={**denied, 404: {"description": "No such campaign (or settled more than 7 days ago)"},
                        503: {"description": "Redis unreachable"}})
    def get_campaign(campaign_id: str) -> JSONResponse:
        try:
            found = progress(producer.redis_client(), producer.keys, campaign_id)
        except QueueUnavailable as exc:
            return problem(503, [{"index": None, "field": "redis", "message": str(exc)}])
        if found is None:
            return problem(404, [{"index": None, "field": "campaign_id", "message": f"no campaign {campaign_id}"}])
        return JSONResponse(found)

    @api.post("/v1/campaigns/{campaign_id}/cancel", dependencies=[Depends(auth)], tags=["campaigns"],
              summary="Drop the recipients not yet fed (held by a probe too); those already queued still go",
              openapi_extra={"security": [{"bearer": []}]},
              responses={**denied, 404: {"description": "No such campaign"}, 503: {"description": "Redis unreachable"}})
    def cancel_campaign(campaign_id: str) -> JSONResponse:
        try:
            done = store.cancel(producer.redis_client(), producer.keys, campaign_id, 2 * settings.visibility_timeout_s * 1000)
        except store.NoSuchCampaign:
            return problem(404, [{"index": None, "field": "campaign_id", "message": f"no campaign {campaign_id}"}])
        except QueueUnavailable as exc:
            return problem(503, [{"index": None, "field": "redis", "message": str(exc)}])
        return JSONResponse(done)

    return api


class _BadBody(ValueError):
    pass


class _Upload:
    """The uploaded CSV, read row by row from starlette's spooled file in the enqueue's thread."""

    def __init__(self, upload: UploadFile) -> None:
        self.upload = upload

    def __iter__(self):  # noqa: ANN204 - an iterator of Recipient
        text = io.TextIOWrapper(self.upload.file, encoding="utf-8-sig", newline="")
        return iter(from_csv_text(text, self.upload.filename or "recipients"))

    async def close(self) -> None:
        await self.upload.close()


def _json_campaign(body: bytes) -> tuple[Any, Any, str | None, bool]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise _BadBody(f"not JSON: {exc}") from None
    except RecursionError:
        raise _BadBody("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidMessage("body", "a JSON object with content and recipients")
    recipients = data.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise InvalidMessage("recipients", "a non-empty array of recipients (objects with an email)")
    return _content(data.get("content")), recipients, _campaign_id(data.get("campaign_id")), _flag(data.get("expire_ok", False))


async def _form_campaign(request: Request, limit: int) -> tuple[Any, Any, str | None, bool]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    received = [0]
    upstream = request.receive

    async def counted() -> Any:  # a chunked upload has no length to check up front: count what arrives
        message = await upstream()
        received[0] += len(message.get("body", b""))
        if received[0] > limit:
            raise TooLarge
        return message

    try:
        form = await Request(request.scope, counted).form(max_files=1, max_fields=3, max_part_size=MAX_CONTENT_FIELD_BYTES)
    except TooLarge:
        raise
    except Exception as exc:  # starlette's MultiPartException, or a malformed body
        raise _BadBody(f"not a readable multipart/form-data body: {getattr(exc, 'message', exc)}") from None
    upload = form.get("recipients")
    if not isinstance(upload, UploadFile):
        raise InvalidMessage("recipients", "a CSV file in the recipients part")
    content_text = form.get("content")
    if not isinstance(content_text, str):
        raise InvalidMessage("content", "the campaign's content, a JSON object, in the content part")
    try:
        content = json.loads(content_text)
    except (ValueError, RecursionError):
        raise InvalidMessage("content", "not a JSON object") from None
    expire = form.get("expire_ok", "false")
    if expire not in ("true", "false"):
        raise InvalidMessage("expire_ok", "true or false")
    campaign_id = form.get("campaign_id")
    return _content(content), _Upload(upload), _campaign_id(campaign_id if isinstance(campaign_id, str) else None), expire == "true"


def _content(value: Any) -> Any:
    if not isinstance(value, dict):
        raise InvalidMessage("content", "a JSON object: subject, text and/or html templates, list...")
    return value


def _campaign_id(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidMessage("campaign_id", "text: ASCII letters, digits, - and _ only, 64 at most")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidMessage("expire_ok", "true or false")
    return value


__all__ = ["progress", "request_body", "router"]
