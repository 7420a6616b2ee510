"""uvicorn's factory for `ramp serve` with the dashboard (`uvicorn --factory ses_ramp.worker.web.app:app_from_env`):
the ingest app of `producers/http/app.py`, unchanged, plus `/dashboard`. `ramp serve` picks this one only when
RAMP_DASHBOARD_TOKEN_SHA256 is set; without it the HTTP door imports no worker code, as before."""

from __future__ import annotations

from fastapi import FastAPI

from ses_ramp.config import Settings
from ses_ramp.producers.http.app import create_app, settings_or_exit
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.noop import NoopTransport
from ses_ramp.worker.web import dashboard
from ses_ramp.worker.web.operator import Operators


def create_dashboard_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    # The dashboard reads and writes Redis; it never sends mail (no SES client is built).
    runtime = Runtime.build(settings, transport=NoopTransport())
    app.include_router(dashboard.router(runtime, Operators(settings.dashboard_token_sha256)))
    return app


def app_from_env() -> FastAPI:
    return create_dashboard_app(settings_or_exit())
