"""`ramp`: the operator's command line. Each command is a thin shell over the modules beside it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ses_ramp.config import Settings, SettingsError, load_settings

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="ses-ramp: warm an SES dedicated IP safely.")
out = Console()
err = Console(stderr=True)


def settings_or_exit(**overrides) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        err.print(f"[red]ses-ramp:[/red] {exc}")
        raise typer.Exit(2) from None


def _with_redis(settings: Settings) -> Settings:
    """Point `settings` at the embedded redis-server when no RAMP_REDIS_URL is configured."""
    if not settings.uses_embedded_redis:
        return settings
    from ses_ramp.worker.embedded import ensure_embedded_redis

    url = ensure_embedded_redis(settings.embedded_redis_port, settings.embedded_redis_dir)
    os.environ["RAMP_REDIS_URL"] = url  # for the Celery app module this process loads next
    return settings.model_copy(update={"redis_url": url})


def _stop_on_signals():
    """A `threading.Event` set by SIGTERM or SIGINT: long-running commands stop warm on it."""
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _runtime(settings: Settings, transport=None):
    """Redis-backed runtime for an operator command (no SES calls unless a `transport` is given)."""
    from redis.exceptions import RedisError

    from ses_ramp.config import mask_url
    from ses_ramp.worker.runtime import Runtime
    from ses_ramp.worker.transports.noop import NoopTransport

    runtime = Runtime.build(settings, transport=transport or NoopTransport())
    try:
        runtime.client.ping()
    except RedisError as exc:
        err.print(f"[red]ses-ramp:[/red] Redis unavailable at {mask_url(settings.effective_redis_url)}: {exc}")
        raise typer.Exit(3) from None
    return runtime


@cli.command()
def worker(
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", help="Worker processes (RAMP_WORKER_CONCURRENCY)."),
    queues: str = typer.Option("transactional,bulk", "--queues", "-Q"),
    pool: str = typer.Option("prefork", help="Celery pool: prefork, threads, solo."),
    hostname: Optional[str] = typer.Option(None, "--hostname", "-n"),
    supervise: bool = typer.Option(True, help="Restart the Celery worker if it dies unexpectedly."),
) -> None:
    """Start a Celery worker draining both queues under the warm-up budget."""
    settings = _with_redis(settings_or_exit())
    argv = [
        "worker", "-Q", queues, "-c", str(concurrency or settings.worker_concurrency), "-P", pool,
        "-l", settings.log_level, "--without-gossip", "--without-mingle",
    ]
    if hostname:
        argv += ["-n", hostname]
    if not supervise:
        from ses_ramp.worker.app import app

        app.worker_main(argv)
        return
    from ses_ramp.worker.supervise import supervise_worker

    raise typer.Exit(supervise_worker([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", *argv]))


@cli.command()
def enqueue(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON: one message or a list.")) -> None:
    """Validate and enqueue the message(s) in FILE; print one receipt per message."""
    from ses_ramp.producers import Producer, ProducerError

    settings = _with_redis(settings_or_exit())
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        err.print(f"[red]ses-ramp:[/red] {file}: not JSON: {exc}")
        raise typer.Exit(2) from None
    items = data if isinstance(data, list) else [data]
    producer = Producer(settings)
    try:
        receipts = producer.enqueue_many(items)
    except ProducerError as exc:
        err.print(f"[red]ses-ramp:[/red] {exc}")
        raise typer.Exit(2 if isinstance(exc, ValueError) else 3) from None
    finally:
        producer.close()
    for r in receipts:
        out.print_json(json.dumps({"id": r.id, "kind": r.kind, "recipients": r.recipients}))


@cli.command("schedule")
def schedule_cmd(
    profile: Optional[str] = typer.Option(None, help="consumer (1.5x) or b2b (1.2x)."),
    as_json: bool = typer.Option(False, "--json"),
    plot: Optional[Path] = typer.Option(None, help="Write a PNG chart of the ramp."),
) -> None:
    """Print the day-by-day warm-up plan (day, step, cap, cumulative)."""
    from ses_ramp.worker import schedule

    overrides = {"warmup_profile": profile} if profile else {}
    settings = settings_or_exit(**overrides)
    cfg = schedule.ScheduleConfig.from_settings(settings)
    days = schedule.plan(cfg)
    if cfg.low_volume_warning:
        err.print(f"[yellow]warning:[/yellow] {cfg.low_volume_warning}")
    if plot:
        from ses_ramp.worker.charts import plot_schedule

        plot_schedule(days, cfg, plot)
        err.print(f"wrote {plot}")
    if as_json:
        print(json.dumps([d.__dict__ for d in days]))
        return
    table = Table(title=f"warm-up: {cfg.start_per_day} -> {cfg.target_per_day}/day, x{cfg.multiplier} per step, {len(days)} sending days")
    for col in ("day", "step", "cap", "cumulative"):
        table.add_column(col, justify="right")
    for d in days:
        table.add_row(str(d.day), str(d.step), f"{d.cap:,}", f"{d.cumulative:,}")
    out.print(table)


@cli.command()
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Today's budget: warm-up day and step, cap/used/reserve, hour allowance, rate, queues."""
    from ses_ramp.worker.status import collect

    settings = _with_redis(settings_or_exit())
    runtime = _runtime(settings)
    data = collect(runtime)
    if as_json:
        print(json.dumps(data, default=str))
        return
    table = Table(title=f"ses-ramp status ({settings.key_prefix})", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(key, json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value))
    out.print(table)
    if data.get("cooled_down"):
        out.print("[yellow]The IP cooled down after an idle gap: the ramp restarted from an earlier step.[/yellow]")
    if data.get("warning"):
        out.print(f"[yellow]warning:[/yellow] {data['warning']}")


dead_cli = typer.Typer(no_args_is_help=True, help="Dead letters: messages that failed for good or ran out of attempts.")
cli.add_typer(dead_cli, name="dead")


@dead_cli.command("list")
def dead_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List dead letters, oldest first, with their last error."""
    runtime = _runtime(_with_redis(settings_or_exit()))
    entries = runtime.deferrals.dead_entries()
    if as_json:
        print(json.dumps(entries))
        return
    table = Table(title=f"{len(entries)} dead letters")
    for col in ("id", "kind", "attempts", "error"):
        table.add_column(col)
    for e in entries:
        m = e["message"]
        table.add_row(m.get("id", "?"), m.get("kind", "?"), str(e.get("attempts", "")), e.get("error", "")[:120])
    out.print(table)


@dead_cli.command("retry")
def dead_retry(
    message_id: Optional[str] = typer.Argument(None, help="One dead letter's id."),
    all_: bool = typer.Option(False, "--all", help="Re-enqueue every dead letter."),
) -> None:
    """Re-enqueue dead letters (validated and suppression-checked again, attempts reset)."""
    from ses_ramp.producers import Producer, ProducerError

    if bool(message_id) == all_:
        err.print("[red]ses-ramp:[/red] give one message id or --all")
        raise typer.Exit(2)
    settings = _with_redis(settings_or_exit())
    runtime = _runtime(settings)
    ids = [e["message"]["id"] for e in runtime.deferrals.dead_entries()] if all_ else [message_id]
    producer = Producer(settings)
    done = failed = 0
    try:
        for mid in ids:
            entry = runtime.deferrals.take_dead(mid)
            if entry is None:
                err.print(f"[red]ses-ramp:[/red] no dead letter {mid}")
                failed += 1
                continue
            try:
                producer.enqueue(entry["message"])
                done += 1
            except ProducerError as exc:
                # Put it back untouched: a refused retry must not lose the dead letter.
                runtime.client.hset(runtime.deferrals.keys.dead, mid, json.dumps(entry))
                err.print(f"[yellow]kept {mid}:[/yellow] {exc}")
                failed += 1
    finally:
        producer.close()
    out.print(f"re-enqueued {done}, kept {failed}")
    if failed:
        raise typer.Exit(1)


Target = typer.Argument(..., help="transactional, bulk or all")


@cli.command("pause")
def pause_cmd(target: str = Target, reason: str = typer.Option(..., "--reason", help="Why (kept with the flag)."),
              by: str = typer.Option(os.environ.get("USER", "operator"), "--by")) -> None:
    """Pause a kind fleet-wide: running workers stop consuming it, new ones never start to."""
    from ses_ramp.worker import pause

    runtime = _runtime(_with_redis(settings_or_exit()))
    try:
        fresh = pause.pause(runtime.client, runtime.budget.keys, target, by, reason, runtime.budget.now_ms())
    except ValueError as exc:
        err.print(f"[red]ses-ramp:[/red] {exc}")
        raise typer.Exit(2) from None
    out.print(f"paused {target}" if fresh else f"{target} was already paused (first reason kept)")


@cli.command("resume")
def resume_cmd(target: str = Target) -> None:
    """Clear a pause (including one the breaker or SES set: only a person resumes)."""
    from ses_ramp.worker import pause

    runtime = _runtime(_with_redis(settings_or_exit()))
    try:
        cleared = pause.resume(runtime.client, runtime.budget.keys, target)
    except ValueError as exc:
        err.print(f"[red]ses-ramp:[/red] {exc}")
        raise typer.Exit(2) from None
    if target == "all" or not pause.flags(runtime.client, runtime.budget.keys):
        # The breaker starts counting afresh: the rates that tripped it must not trip it again.
        runtime.client.hdel(runtime.budget.keys.breaker, "level", "why", "at_ms")
        runtime.client.hset(runtime.budget.keys.breaker, "resumed_at_ms", runtime.budget.now_ms())
    out.print(f"resumed: {', '.join(cleared) or 'nothing was paused'}")


def _kind(kind: str) -> str:
    if kind not in ("transactional", "bulk"):
        err.print(f"[red]ses-ramp:[/red] kind must be transactional or bulk, not {kind!r}")
        raise typer.Exit(2)
    return kind


@cli.command("flush")
def flush_cmd(kind: str = typer.Argument(..., help="transactional or bulk"),
              delete: bool = typer.Option(False, "--delete", help="Delete instead of parking (asks to confirm)."),
              yes: bool = typer.Option(False, "--yes", help="Confirm --delete without asking.")) -> None:
    """Move a kind's queued and deferred messages to its parked list (nothing is deleted by default)."""
    from ses_ramp.worker.operator import flush

    kind = _kind(kind)
    runtime = _runtime(_with_redis(settings_or_exit()))
    counts = flush(runtime, kind)
    out.print(f"parked {counts['queued']} queued and {counts['deferred']} deferred {kind} messages ({counts['parked_total']} parked in all)")
    if delete:
        n = counts["parked_total"]
        if not yes and not typer.confirm(f"Delete all {n} parked {kind} messages? They cannot be recovered"):
            out.print("kept them parked")
            raise typer.Exit(1)
        runtime.client.delete(runtime.budget.keys.parked(kind))
        out.print(f"deleted {n} parked {kind} messages")


@cli.command("restore")
def restore_cmd(kind: Optional[str] = typer.Argument(None, help="transactional or bulk (default: both)")) -> None:
    """Put parked messages back on their queue, oldest first; expired ones are reported, not sent."""
    from ses_ramp.producers import Producer, ProducerError
    from ses_ramp.worker.operator import is_expired

    settings = _with_redis(settings_or_exit())
    runtime = _runtime(settings)
    kinds = [_kind(kind)] if kind else ["transactional", "bulk"]
    producer = Producer(settings)
    restored, expired, refused = 0, [], []
    try:
        for k in kinds:
            key = runtime.budget.keys.parked(k)
            while (raw := runtime.client.lindex(key, 0)) is not None:
                from ses_ramp.worker.operator import _wire_of

                wire = _wire_of(json.loads(raw))
                if is_expired(wire):
                    runtime.deferrals.dead_letter(wire, 0, "expired while parked", runtime.budget.now_ms())
                    expired.append(wire["id"])
                else:
                    try:
                        producer.enqueue(wire)
                        restored += 1
                    except ProducerError as exc:
                        runtime.deferrals.dead_letter(wire, 0, f"refused on restore: {exc}", runtime.budget.now_ms())
                        refused.append(wire["id"])
                # Only now: a crash before this re-enqueues it once more, which idempotency absorbs.
                runtime.client.lpop(key)
    finally:
        producer.close()
    out.print(f"restored {restored}; {len(expired)} expired (dead-lettered, not sent late); {len(refused)} refused")
    for mid in expired:
        out.print(f"  expired: {mid}")


@cli.command("probation")
def probation_cmd(state: str = typer.Argument(..., help="on or off")) -> None:
    """Preset for an account on SES probation: bulk paused, today's cap lowered, breaker tightened."""
    from ses_ramp.worker import pause

    settings = _with_redis(settings_or_exit())
    runtime = _runtime(settings)
    keys, client = runtime.budget.keys, runtime.client
    if state == "on":
        if client.hget(keys.breaker, "probation"):
            out.print("probation is already on")
            return
        runtime.budget.roll_day()
        cap = int(client.hget(keys.day, "cap"))
        lowered = max(1, int(cap * settings.probation_cap_share))
        snapshot = {"rate_share": settings.probation_rate_share, "cap_before": cap, "date": client.hget(keys.day, "date"),
                    "bulk_paused_here": pause.pause(client, keys, "bulk", "probation", "account on SES probation", runtime.budget.now_ms())}
        client.hset(keys.breaker, "probation", json.dumps(snapshot))
        client.hset(keys.day, "cap", lowered)
        out.print(f"probation on: bulk paused, today's cap {cap:,} -> {lowered:,}, breaker levels x{settings.probation_rate_share}")
    elif state == "off":
        raw = client.hget(keys.breaker, "probation")
        if not raw:
            out.print("probation is not on")
            return
        snapshot = json.loads(raw)
        if client.hget(keys.day, "date") == snapshot["date"]:
            client.hset(keys.day, "cap", snapshot["cap_before"])
        if snapshot["bulk_paused_here"]:
            entry = pause.flags(client, keys).get("bulk")
            if entry and entry.get("by") == "probation":
                pause.resume(client, keys, "bulk")
        client.hdel(keys.breaker, "probation")
        out.print("probation off: previous cap, bulk and breaker levels restored")
    else:
        err.print("[red]ses-ramp:[/red] probation takes on or off")
        raise typer.Exit(2)


suppress_cli = typer.Typer(no_args_is_help=True, help="The suppression list: addresses never mailed again.")
cli.add_typer(suppress_cli, name="suppress")


@suppress_cli.command("add")
def suppress_add(addresses: list[str]) -> None:
    from ses_ramp.producers.message import normalise_address

    runtime = _runtime(_with_redis(settings_or_exit()))
    n = runtime.client.sadd(runtime.budget.keys.suppressed, *map(normalise_address, addresses))
    out.print(f"suppressed {n} new address(es)")


@suppress_cli.command("remove")
def suppress_remove(addresses: list[str]) -> None:
    from ses_ramp.producers.message import normalise_address

    runtime = _runtime(_with_redis(settings_or_exit()))
    n = runtime.client.srem(runtime.budget.keys.suppressed, *map(normalise_address, addresses))
    out.print(f"removed {n} address(es)")


@suppress_cli.command("list")
def suppress_list() -> None:
    runtime = _runtime(_with_redis(settings_or_exit()))
    for address in sorted(runtime.client.sscan_iter(runtime.budget.keys.suppressed, count=1000)):
        print(address)


@suppress_cli.command("import")
def suppress_import(file: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Import addresses from a CSV (first column with an @) or a file with one address per line."""
    from ses_ramp.worker.operator import read_addresses

    runtime = _runtime(_with_redis(settings_or_exit()))
    addresses = read_addresses(file.read_text(errors="replace"))
    added = 0
    for i in range(0, len(addresses), 1000):
        added += runtime.client.sadd(runtime.budget.keys.suppressed, *addresses[i : i + 1000]) if addresses[i : i + 1000] else 0
    out.print(f"read {len(addresses)} addresses, {added} newly suppressed")


@cli.command("events")
def events_cmd(once: bool = typer.Option(False, "--once", help="One poll, then exit.")) -> None:
    """Consume SES events (SNS -> SQS): counters, suppression, AIMD, the breaker and the CloudWatch alarm."""
    from ses_ramp.worker.breaker import Breaker
    from ses_ramp.worker.events import EventsConsumer, aws_client
    from ses_ramp.worker.heartbeat import Heartbeat
    from ses_ramp.worker.logs import configure_logging

    settings = _with_redis(settings_or_exit())
    configure_logging(settings)
    runtime = _runtime(settings)
    breaker = Breaker(settings, runtime, cloudwatch=aws_client(settings, "cloudwatch"))
    consumer = EventsConsumer(settings, runtime, breaker)
    if once:
        out.print(f"handled {consumer.poll_once(wait_s=0)} events")
        return
    stop = _stop_on_signals()
    # Refreshed after every poll; a poll waits up to RAMP_EVENTS_WAIT_S, so the key outlives a few.
    consumer.heartbeat = Heartbeat(runtime.client, runtime.budget.keys, "events", ttl_s=3 * settings.events_wait_s + 30)
    try:
        consumer.run(stop)
    finally:
        consumer.heartbeat.stop()


@cli.command("health")
def health_cmd(role: str = typer.Argument(..., help="beat or events: the process on this host to check.")) -> None:
    """Exit 0 when this host's `ramp beat` / `ramp events` is alive (the container healthcheck)."""
    from ses_ramp.worker.heartbeat import Heartbeat

    if role not in ("beat", "events"):
        err.print(f"[red]ses-ramp:[/red] unknown role {role!r}: beat or events")
        raise typer.Exit(2)
    settings = settings_or_exit()
    runtime = _runtime(settings)
    if not Heartbeat(runtime.client, runtime.budget.keys, role, ttl_s=1).alive():
        err.print(f"ramp {role} on this host has not reported within its heartbeat")
        raise typer.Exit(1)
    out.print(f"ramp {role}: alive")


@cli.command("beat")
def beat_cmd() -> None:
    """Run the fleet duties in one process: mover, quota refresh, adaptive rate, reconciler, breaker, alarm."""
    import structlog

    from ses_ramp.worker.breaker import Breaker
    from ses_ramp.worker.events import aws_client
    from ses_ramp.worker.heartbeat import Heartbeat
    from ses_ramp.worker.housekeeping import Housekeeper, breaker_duties, fleet_duties
    from ses_ramp.worker.logs import configure_logging
    from ses_ramp.worker.transports import make_transport

    settings = _with_redis(settings_or_exit())
    configure_logging(settings)
    runtime = _runtime(settings, transport=make_transport(settings))  # the quota refresh calls SES GetAccount
    # Imported only now: the app module reads the environment `_with_redis` may just have completed.
    from ses_ramp.worker.app import app
    breaker = Breaker(settings, runtime, cloudwatch=aws_client(settings, "cloudwatch"))
    heartbeat = Heartbeat(runtime.client, runtime.budget.keys, "beat", ttl_s=max(10, int(settings.mover_interval_s * 10)))
    duties = [heartbeat.beat, *fleet_duties(settings, runtime, app), *breaker_duties(settings, breaker)]
    housekeeper = Housekeeper(duties, settings.mover_interval_s)
    stop = _stop_on_signals()
    log = structlog.get_logger(logger_name="ses_ramp.beat")
    log.info("beat_started", interval_s=settings.mover_interval_s, alarm_poll_s=settings.beat_alarm_poll_s)
    housekeeper.start()
    stop.wait()
    housekeeper.stop()
    housekeeper.join(timeout=30)
    heartbeat.stop()
    log.info("beat_stopped")


@cli.command("setup")
def setup_cmd(ip: Optional[str] = typer.Option(None, help="Dedicated IP to put in the pool.")) -> None:
    """Create (or find) the pool, configuration set, SNS/SQS event path and the CloudWatch alarm."""
    from ses_ramp.worker.events import aws_client
    from ses_ramp.worker.setup_aws import run_setup

    settings = settings_or_exit()
    clients = {name: aws_client(settings, name) for name in ("sesv2", "sns", "sqs", "cloudwatch")}
    if settings.ses_endpoint_url:
        from ses_ramp.worker.transports.ses_api import ses_client

        clients["sesv2"] = ses_client(settings)
    table = Table(title="ramp setup")
    for col in ("resource", "name", "result"):
        table.add_column(col)
    for row in run_setup(settings, clients, ip):
        table.add_row(*row)
    out.print(table)


@cli.command("simulate")
def simulate_cmd(
    days: int = typer.Option(45, min=1, max=120),
    profile: Optional[str] = typer.Option(None, help="consumer (1.5x) or b2b (1.2x): the schedule and how receivers react."),
    multiplier: Optional[float] = typer.Option(None, min=1.01, help="Cap growth per step, overriding the profile's (e.g. 1.5 or 2.0)."),
    daily_demand: int = typer.Option(50_000, "--daily-demand", min=50, help="Recipients the app wants to send per day."),
    bounce_rate: float = typer.Option(0.005, "--bounce-rate", min=0, max=1, help="Hard bounces per recipient: list hygiene."),
    complaint_rate: float = typer.Option(0.0001, "--complaint-rate", min=0, max=1, help="Complaints per delivered recipient."),
    dirty_list_day: Optional[int] = typer.Option(None, "--dirty-list-day", help="Day an unverified list goes out (12% hard bounces)."),
    tolerance: Optional[float] = typer.Option(None, min=1.0, help="Growth over the IP's best day receivers accept before deferring (consumer 2.0, b2b 1.3)."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same run."),
    as_json: bool = typer.Option(False, "--json"),
    plot: Optional[Path] = typer.Option(None, help="Write cap vs sent vs backlog as a PNG."),
) -> None:
    """Run the real schedule, gate, classifier, deferrals and breaker against a receiver model, fast."""
    import tempfile
    import uuid as _uuid

    import structlog

    from ses_ramp.worker.embedded import EmbeddedRedis, free_port
    from ses_ramp.worker.runtime import Runtime
    from ses_ramp.worker.simulate import PROFILE_TOLERANCE, ReceiverModel, rows_as_dicts, simulate
    from ses_ramp.worker.transports.noop import NoopTransport

    overrides: dict[str, object] = {"warmup_profile": profile} if profile else {}
    if multiplier:
        overrides["warmup_multiplier"] = multiplier
    settings = settings_or_exit(**overrides)
    model = ReceiverModel(seed=seed, tolerance=tolerance or PROFILE_TOLERANCE[settings.warmup_profile], bounce_rate=bounce_rate,
                          complaint_rate=complaint_rate, dirty_day=dirty_list_day)
    server = None
    if settings.redis_url is None:  # a throw-away server: a simulation never touches real state
        server = EmbeddedRedis(free_port(), tempfile.mkdtemp(prefix="ses-ramp-sim-"), persist=False).start()
    url = server.url if server else settings.redis_url
    sim = settings.model_copy(update={"redis_url": url, "key_prefix": f"sim-{_uuid.uuid4().hex[:8]}", "rate_wait_inline_max_s": 86_400.0,
                                      "from_address": settings.from_address or "sim@example.com", "log_level": "ERROR"})
    runtime = Runtime.build(sim, transport=NoopTransport())
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    try:
        rows = simulate(sim, runtime, days, daily_demand, model)
    finally:
        for key in runtime.client.scan_iter(f"{sim.key_prefix}:*", count=5000):
            runtime.client.delete(key)
        if server:
            server.stop()
    data = rows_as_dicts(rows)
    if plot:
        from ses_ramp.worker.charts import plot_simulation

        dirty = f", unverified list on day {dirty_list_day}" if dirty_list_day else ""
        plot_simulation(data, plot, title=f"{sim.warmup_profile} x{sim.multiplier}, demand {daily_demand:,}/day{dirty}, seed {seed}")
        err.print(f"wrote {plot}")
    if as_json:
        print(json.dumps(data))
        return
    table = Table(title=f"simulated warm-up ({sim.warmup_profile}, x{sim.multiplier}, demand {daily_demand:,}/day, seed {seed})")
    for col in ("day", "step", "cap", "sent", "deferred", "backlog", "bounce", "complaint", "breaker"):
        table.add_column(col, justify="right")
    for r in data:
        table.add_row(str(r["day"]), str(r["step"]), f"{r['cap']:,}", f"{r['sent']:,}", f"{r['deferred']:,}", f"{r['backlog']:,}",
                      f"{r['bounce_rate']:.2%}", f"{r['complaint_rate']:.3%}", r["breaker"])
    out.print(table)
    reached = next((r["day"] for r in data if r["sent"] >= sim.warmup_target_per_day), None)
    out.print(f"{sim.warmup_target_per_day:,}/day reached on day {reached}" if reached else
              f"{sim.warmup_target_per_day:,}/day not reached in {days} days")


@cli.command()
def demo(
    messages: int = typer.Option(200, "--messages", "-m", min=1, max=20000),
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1),
    timeout_s: float = typer.Option(300.0, "--timeout"),
) -> None:
    """Run the whole path on embedded parts: Redis, moto's SES, a real worker; send a mixed batch."""
    from ses_ramp.worker.demo import run_demo

    settings = settings_or_exit()
    raise typer.Exit(run_demo(settings, messages, concurrency, timeout_s, out))


def main() -> None:
    try:
        cli()
    except SettingsError as exc:  # raised by an import-time edge such as the Celery app module
        err.print(f"[red]ses-ramp:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
