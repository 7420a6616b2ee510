"""RFC 8058 one-click unsubscribe: `POST /u/{token}` with `List-Unsubscribe=One-Click` unsubscribes at
once; `GET /u/{token}` shows a page with a button and changes nothing (link scanners follow GETs).
A forged, tampered or expired token gets 400 and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartException, MultiPartParser

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers.enqueue import Producer
from ses_ramp.producers.unsubscribe import BadToken, read_token

MAX_FORM_BYTES = 1024


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{escape(title)}</title><body style='font-family:sans-serif;max-width:32em;margin:3em auto'>"
            f"<h1>{escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


INVALID = ("This link is not valid", "<p>It may have expired or been altered. Use the link in a newer message.</p>")


def router(settings: Settings, producer: Producer) -> APIRouter:
    api = APIRouter(tags=["unsubscribe"])
    secret = settings.unsubscribe_secret.get_secret_value() if settings.unsubscribe_secret else ""
    keys = Keys(settings.key_prefix)

    def verify(token: str) -> tuple[str, str] | None:
        if not secret:
            return None
        try:
            return read_token(secret, token, settings.unsubscribe_token_max_age_s)
        except BadToken:
            return None

    @api.get("/u/{token}", response_class=HTMLResponse, summary="The unsubscribe page (changes nothing)",
             responses={400: {"description": "Forged, tampered or expired token"}})
    def page(token: str) -> HTMLResponse:
        found = verify(token)
        if found is None:
            return _page(*INVALID, status=400)
        _, list_id = found
        form = (f"<p>Stop receiving <b>{escape(list_id)}</b>?</p><form method=post action='/u/{escape(token)}'>"
                "<input type=hidden name=List-Unsubscribe value=One-Click><button type=submit>Unsubscribe</button></form>")
        return _page("Unsubscribe", form)

    @api.post("/u/{token}", response_class=HTMLResponse, summary="One-click unsubscribe (RFC 8058)",
              openapi_extra={"requestBody": {"required": True, "content": {media: {
                  "schema": {"type": "object", "properties": {"List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}},
                             "required": ["List-Unsubscribe"]}} for media in FORM_TYPES}}},
              responses={400: {"description": "Forged, tampered or expired token, or not a one-click request"},
                         503: {"description": "Redis unreachable; nothing changed"}})
    async def unsubscribe(token: str, request: Request) -> HTMLResponse:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return _page("Not a one-click request", "", status=400)
        if await _one_click_value(request, body) != "One-Click":
            return _page("Not a one-click request", "<p>Expected the body List-Unsubscribe=One-Click.</p>", status=400)
        found = verify(token)
        if found is None:
            return _page(*INVALID, status=400)
        address, list_id = found
        try:
            await run_in_threadpool(producer.redis_client().sadd, keys.unsubscribed(list_id), address)
        except RedisError:
            return _page("Please try again", "<p>We could not record this just now; nothing changed.</p>", status=503)
        return _page("Unsubscribed", f"<p>You will receive no more <b>{escape(list_id)}</b>.</p>")

    @api.options("/u/{token}", status_code=204, summary="The methods the unsubscribe URL takes")
    def options(token: str) -> Response:
        return Response(status_code=204, headers={"Allow": "GET, POST, OPTIONS"})

    return api


#: RFC 8058 names the body `List-Unsubscribe=One-Click` and lets it come as either form encoding
#: (section 3.1: "application/x-www-form-urlencoded or multipart/form-data"); mail clients use both.
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _one_click_value(request: Request, body: bytes) -> str | None:
    """The List-Unsubscribe field of an already read (size-bounded) form body, either encoding."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        async def once() -> AsyncGenerator[bytes, None]:
            yield body

        try:
            form = await MultiPartParser(request.headers, once(), max_files=0, max_fields=8).parse()
        except (MultiPartException, ValueError):
            return None
        value = form.get("List-Unsubscribe")
        return value if isinstance(value, str) else None
    found = parse_qs(body.decode(errors="replace")).get("List-Unsubscribe")
    return found[0] if found and len(found) == 1 else None
