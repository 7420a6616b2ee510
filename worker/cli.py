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


def _runtime(settings: Settings):
    from redis.exceptions import RedisError

    from ses_ramp.config import mask_url
    from ses_ramp.worker.runtime import Runtime
    from ses_ramp.worker.transports.noop import NoopTransport

    runtime = Runtime.build(settings, transport=NoopTransport())
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
) -> None:
    """Start a Celery worker draining both queues under the warm-up budget."""
    settings = _with_redis(settings_or_exit())
    from ses_ramp.worker.app import app

    argv = [
        "worker", "-Q", queues, "-c", str(concurrency or settings.worker_concurrency), "-P", pool,
        "-l", settings.log_level, "--without-gossip", "--without-mingle",
    ]
    if hostname:
        argv += ["-n", hostname]
    app.worker_main(argv)


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
