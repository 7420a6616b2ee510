"""`ramp events`, `ramp beat`, `ramp health`, `ramp setup`: the long-running services and their checks."""

from __future__ import annotations

import typer
from rich.table import Table

from ses_ramp.worker.cli.common import (
    cli,
    fail,
    open_runtime,
    out,
    settings_or_exit,
    stop_on_signals,
    with_redis,
)


@cli.command("events")
def events_cmd(once: bool = typer.Option(False, "--once", help="One poll, then exit.")) -> None:
    """Consume SES events (SNS -> SQS): counters, suppression, AIMD, the breaker and the CloudWatch alarm."""
    from ses_ramp.worker.fleet.events_loop import poll_events_once, run_events
    from ses_ramp.worker.logs import configure_logging

    settings = with_redis(settings_or_exit())
    configure_logging(settings)
    runtime = open_runtime(settings, patient=True)
    if once:
        out.print(f"handled {poll_events_once(settings, runtime)} events")
        return
    run_events(settings, runtime, stop_on_signals())


@cli.command("health")
def health_cmd(role: str = typer.Argument(..., help="worker, beat or events: the process on this host to check.")) -> None:
    """Exit 0 when this host's `ramp worker` / `ramp beat` / `ramp events` is alive (the container healthcheck)."""
    from ses_ramp.worker.fleet.heartbeat import ROLES, role_alive, workers_alive_here

    if role not in ROLES:
        fail(f"unknown role {role!r}: worker, beat or events")
    settings = settings_or_exit()
    if role == "worker":
        from ses_ramp.worker.app import create_app

        nodes = workers_alive_here(create_app(settings))
        if not nodes:
            fail("no ramp worker on this host answered a ping", 1)
        out.print(f"ramp worker: alive ({', '.join(nodes)})")
        return
    runtime = open_runtime(settings)
    if not role_alive(runtime.client, runtime.budget.keys, role):
        fail(f"ramp {role} on this host has not reported within its heartbeat", 1)
    out.print(f"ramp {role}: alive")


@cli.command("beat")
def beat_cmd() -> None:
    """Run the fleet duties in one process: mover, quota refresh, adaptive rate, reconciler, breaker, alarm."""
    from ses_ramp.worker.app import create_app
    from ses_ramp.worker.fleet.housekeeping import run_beat
    from ses_ramp.worker.guards.breaker import Breaker
    from ses_ramp.worker.logs import configure_logging
    from ses_ramp.worker.send.transports import make_transport
    from ses_ramp.worker.send.transports.aws import aws_client

    settings = with_redis(settings_or_exit())
    configure_logging(settings)
    runtime = open_runtime(settings, transport=make_transport(settings), patient=True)  # the quota refresh calls SES GetAccount
    breaker = Breaker(settings, runtime, cloudwatch=aws_client(settings, "cloudwatch"))
    run_beat(settings, runtime, create_app(settings), breaker, stop_on_signals())


@cli.command("setup")
def setup_cmd(ip: str | None = typer.Option(None, help="Dedicated IP to put in the pool."),
              check: bool = typer.Option(False, "--check", help="Only check: SES's own warm-up, then the From domain (DKIM, MAIL FROM, SPF, DMARC)."),
              overflow: bool = typer.Option(False, "--overflow", help="Also create RAMP_OVERFLOW_CONFIGURATION_SET (the overflow route) with the same event destination."),
              overflow_pool: str | None = typer.Option(None, "--overflow-pool", help="With --overflow: a pool of IPs already warm (default: SES's shared pool)."),
              ses_auto_warmup: str | None = typer.Option(None, "--ses-auto-warmup", help="on or off: SES's automatic warm-up of standard dedicated IPs (docs: concepts, overflow)."),
              ) -> None:
    """Create (or find) the pool, configuration set(s), SNS/SQS event path and the CloudWatch alarm; read SES's own warm-up."""
    from ses_ramp.worker.ops import ses_warmup
    from ses_ramp.worker.ops.setup_aws import run_setup, setup_clients

    settings = settings_or_exit()
    if ses_auto_warmup not in (None, "on", "off"):
        fail(f"--ses-auto-warmup {ses_auto_warmup!r}: on or off")
    ses = setup_clients(settings)["sesv2"]
    if ses_auto_warmup is not None:
        ses_warmup.set_auto_warmup(ses, ses_auto_warmup == "on")
    found = ses_warmup.read(ses, settings.dedicated_ip_pool)
    notes = ses_warmup.findings(found)
    for level, line in notes:
        out.print(f"{ {'ok': 'ok  ', 'warn': 'WARN', 'refuse': 'FIX '}[level]} SES warm-up: {line}", soft_wrap=True, markup=False)
    if any(level == "refuse" for level, _ in notes):
        raise typer.Exit(1)
    if check:
        from ses_ramp.worker.ops.readiness import check_domain, check_postmaster, resolver_for

        results = check_domain(settings, ses, resolver_for(settings)) + check_postmaster(settings)
        for c in results:
            out.print(f"{'ok ' if c.ok else 'FIX'}  {c.what}: {c.detail}", soft_wrap=True, markup=False)
        if not all(c.ok for c in results):
            raise typer.Exit(1)
        return
    table = Table(title="ramp setup")
    for col in ("resource", "name", "result"):
        table.add_column(col)
    try:
        rows = run_setup(settings, setup_clients(settings), ip, overflow=overflow, overflow_pool=overflow_pool)
    except (ses_warmup.ManagedPoolRefused, ValueError) as exc:
        fail(str(exc))
    for row in rows:
        table.add_row(*row)
    out.print(table)


@cli.command("serve")
def serve_cmd() -> None:
    """Run the HTTP door: POST /v1/messages and /v1/campaigns, one-click unsubscribe at /u/<token>, /healthz, /metrics; /dashboard with RAMP_DASHBOARD_TOKEN_SHA256."""
    import os
    import sys

    settings = settings_or_exit()
    if settings.uses_embedded_redis:
        fail("RAMP_REDIS_URL is not set: `ramp serve` enqueues into the fleet's Redis")
    # Replace this process with uvicorn on the app factory: without the dashboard the server imports no worker code.
    # No access log: request paths carry unsubscribe tokens (the app counts requests by route).
    factory = "ses_ramp.worker.web.app:app_from_env" if settings.dashboard_token_sha256 else "ses_ramp.producers.http.app:app_from_env"
    argv = [sys.executable, "-m", "uvicorn", "--factory", factory,
            "--host", settings.serve_host, "--port", str(settings.serve_port), "--no-access-log",
            "--timeout-graceful-shutdown", "5"]
    os.execv(sys.executable, argv)

