"""The `ramp serve` application: ingest API, one-click unsubscribe, health, metrics, OpenAPI.

`app_from_env` is uvicorn's factory (`uvicorn --factory ses_ramp.producers.http.app:app_from_env`):
the settings are read once, at this process edge. No worker code and no boto3 are imported here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from ses_ramp.config import Settings, SettingsError, load_settings
from ses_ramp.producers.campaigns.content import CampaignContent
from ses_ramp.producers.enqueue import Producer
from ses_ramp.producers.http import campaigns, ingest, oneclick
from ses_ramp.producers.message import message_schema

ERRORS_SCHEMA = {"type": "object", "required": ["errors"], "properties": {"errors": {"type": "array", "items": {
    "type": "object", "properties": {"index": {"type": ["integer", "null"]}, "field": {"type": "string"}, "message": {"type": "string"}}}}}}
RECEIPTS_SCHEMA = {"type": "object", "required": ["receipts"], "properties": {"receipts": {"type": "array", "items": {
    "type": "object", "properties": {"id": {"type": "string"}, "idempotency_key": {"type": "string"}, "kind": {"type": "string"},
                                     "recipients": {"type": "integer"},
                                     "estimated_send_date": {"type": ["string", "null"], "format": "date"}}}}}}


def create_app(settings: Settings) -> FastAPI:
    producer = Producer(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        producer.close()

    app = FastAPI(title="ses-ramp", version="1", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Enqueue mail and campaigns for a warming SES dedicated IP; RFC 8058 one-click unsubscribe.")
    app.include_router(ingest.router(settings, producer))
    app.include_router(oneclick.router(settings, producer))
    app.include_router(campaigns.router(settings, producer))

    registry = CollectorRegistry()
    requests = Counter("ses_ramp_http_requests_total", "HTTP requests by route and status.", ["route", "status"], registry=registry)
    latency = Histogram("ses_ramp_http_request_seconds", "HTTP request duration by route.", ["route"], registry=registry)

    @app.middleware("http")
    async def measure(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # The route template, never the path: paths carry unsubscribe tokens.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.labels(route, str(response.status_code)).inc()
        latency.labels(route).observe(time.perf_counter() - started)
        return response

    @app.get("/healthz", tags=["health"], summary="200 when Redis answers, 503 otherwise")
    async def healthz() -> JSONResponse:
        try:
            await run_in_threadpool(producer.redis_client().ping)
        except RedisError as exc:
            return JSONResponse({"ok": False, "redis": str(exc)}, status_code=503)
        return JSONResponse({"ok": True})

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=True, response_class=PlainTextResponse,
             responses={200: {"description": "Prometheus text exposition format",
                              "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            message = message_schema()
            components = schema.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for name, sub in message.pop("$defs", {}).items():
                schemas[name] = sub
            schemas["Message"] = _retarget(message)
            content = CampaignContent.model_json_schema(by_alias=True)
            for name, sub in content.pop("$defs", {}).items():
                schemas.setdefault(name, _retarget(sub))
            schemas["CampaignContent"] = _retarget(content)
            schemas["Errors"] = ERRORS_SCHEMA
            schemas["Receipts"] = RECEIPTS_SCHEMA
            components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _retarget(node: Any) -> Any:
    """pydantic's `#/$defs/X` references, moved under OpenAPI's `#/components/schemas/X`."""
    if isinstance(node, dict):
        return {k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _retarget(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget(v) for v in node]
    return node


def settings_or_exit() -> Settings:
    """The settings, read once at this process edge; a bad one is one line on stderr and exit 2."""
    try:
        return load_settings()
    except SettingsError as exc:
        sys.stderr.write(f"ses-ramp: {exc}\n")
        raise SystemExit(2) from None


def app_from_env() -> FastAPI:
    return create_app(settings_or_exit())
