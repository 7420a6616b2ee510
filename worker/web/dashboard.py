"""`/dashboard`: the page (linkable per day: `?day=2026-12-03`), the operator's sign-in and out, and the controls.

Every control is a POST with the operator token (cookie or bearer), the page's CSRF token and a same-host
Origin (`operator.py`); each one records who did it and why in `keys.audit` and the log, as the CLI records a
pause's `--by` and `--reason`. Pause, resume, probation and the breaker reset call the very functions the CLI's
commands call.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from ses_ramp.worker.guards import breaker, pause, probation
from ses_ramp.worker.web import view
from ses_ramp.worker.web.operator import COOKIE, NAME_COOKIE, PATH, Operators, csrf_for, csrf_ok

log = structlog.get_logger(logger_name="ses_ramp.dashboard")

REFRESH_S = 30
AUDIT_KEPT = 1000
ACTIONS = ("pause", "resume", "probation-on", "probation-off", "breaker-reset")
_DAY = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
_templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]))


def _html(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(name).render(**context), status_code=status,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"})


def control(runtime: Any, action: str, target: str, reason: str, by: str) -> str:
    """One control, as the CLI's command would do it; returns the line the page shows. Raises ValueError."""
    client, keys, now_ms = runtime.client, runtime.budget.keys, runtime.budget.now_ms()
    if action == "pause":
        fresh = pause.pause(client, keys, target, by, reason, now_ms)
        done = f"paused {target}: {reason}" if fresh else f"paused {target} already (the first pause's reason is kept)"
    elif action == "resume":
        cleared, due = breaker.resume(runtime, target)
        done = (f"resumed {', '.join(cleared)}" if cleared else f"resumed {target} already (nothing was paused)") + \
            (f"; {due:,} waiting messages are due now" if due else "")
    elif action in ("probation-on", "probation-off"):
        change = probation.probation_on(runtime) if action == "probation-on" else probation.probation_off(runtime)
        done = f"{action.replace('-', ' ')}: the day's cap {change.cap_before:,} -> {change.cap_now:,}" if change.changed \
            else f"{action.replace('-', ' ')} already"
    elif action == "breaker-reset":
        breaker.reset(runtime)
        done = "the breaker counts afresh (its pauses stay until resumed)"
    else:
        raise ValueError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    entry = {"at_ms": now_ms, "at": datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S"), "by": by,
             "action": action, "target": target if action in ("pause", "resume") else None, "reason": reason}
    with client.pipeline(transaction=True) as pipe:
        pipe.lpush(keys.audit, json.dumps(entry))
        pipe.ltrim(keys.audit, 0, AUDIT_KEPT - 1)
        pipe.execute()
    log.warning("dashboard_control", **entry)
    return done


def router(runtime: Any, operators: Operators) -> APIRouter:
    api = APIRouter(include_in_schema=False)  # a page for people, not part of the ingest API's document

    @api.get(PATH, response_model=None)
    async def page(request: Request, day: str | None = None, done: str | None = None) -> Response:
        token = operators.token_of(request)
        if token is None:
            return _html("login.html", 401 if request.cookies.get(COOKIE) else 200, problem=None)
        if day is not None and not _DAY.match(day):
            day = None
        data = await run_in_threadpool(view.page, runtime, day)
        return _html("dashboard.html", page=data, csrf=csrf_for(token), operator=request.cookies.get(NAME_COOKIE, "operator"),
                     flash=done, refresh_s=REFRESH_S)

    @api.post(f"{PATH}/login", response_model=None)
    async def login(token: str = Form(""), name: str = Form("")) -> Response:
        name = name.strip()[:64]
        if not operators.accepts(token.strip()) or not name:
            return _html("login.html", 403, problem="That is not an operator token (or no name was given).")
        answer = RedirectResponse(PATH, status_code=303)
        for cookie, value in ((COOKIE, token.strip()), (NAME_COOKIE, name)):
            answer.set_cookie(cookie, value, httponly=True, samesite="strict", path=PATH, max_age=12 * 3600)
        return answer

    @api.post(f"{PATH}/logout", response_model=None)
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        token = operators.token_of(request)
        if token is None or not csrf_ok(request, token, csrf):
            return Response("refused", status_code=403)
        answer = RedirectResponse(PATH, status_code=303)
        answer.delete_cookie(COOKIE, path=PATH)
        return answer

    @api.post(f"{PATH}/control", response_model=None)
    async def post_control(request: Request, action: str = Form(""), target: str = Form(""), reason: str = Form(""),
                           csrf: str = Form("")) -> Response:
        token = operators.token_of(request)
        if token is None:
            return Response("an operator token is required (sign in at /dashboard)", status_code=401)
        # A bearer token is never sent by a browser on its own: only a cookie needs the CSRF check.
        if not request.headers.get("authorization") and not csrf_ok(request, token, csrf):
            return Response("refused: this form did not come from the dashboard (CSRF)", status_code=403)
        if not reason.strip():
            return Response("say why (the reason is recorded with the action)", status_code=422)
        by = request.cookies.get(NAME_COOKIE) or "dashboard"
        try:
            done = await run_in_threadpool(control, runtime, action, target.strip(), reason.strip()[:500], by)
        except ValueError as exc:
            return Response(str(exc), status_code=422)
        return RedirectResponse(f"{PATH}?{_query(done)}", status_code=303)

    return api


def _query(done: str) -> str:
    return urlencode({"done": done})
