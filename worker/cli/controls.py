"""`ramp pause|resume|flush|restore|probation`: the fleet's brakes."""

from __future__ import annotations

import typer

from ses_ramp.worker.cli.common import cli, fail, kind_or_exit, out, runtime_from_env, settings_or_exit, with_redis

Target = typer.Argument(..., help="transactional, bulk, all, or one list's or campaign's mail: list:<id>, campaign:<id>")


@cli.command("pause")
def pause_cmd(target: str = Target, reason: str = typer.Option(..., "--reason", help="Why (kept with the flag)."),
              by: str | None = typer.Option(None, "--by", help="Who pauses (default RAMP_OPERATOR, else USER).")) -> None:
    """Pause a kind fleet-wide: running workers stop consuming it, new ones never start to."""
    from ses_ramp.worker.guards import pause

    runtime = runtime_from_env()
    try:
        fresh = pause.pause(runtime.client, runtime.budget.keys, target, by or runtime.settings.operator, reason,
                            runtime.budget.now_ms())
    except ValueError as exc:
        fail(str(exc))
    out.print(f"paused {target}: {reason}" if fresh else f"paused {target} already (the first pause's reason is kept)")


@cli.command("resume")
def resume_cmd(target: str = Target) -> None:
    """Clear a pause (including one the breaker or SES set: only a person resumes)."""
    from ses_ramp.worker.guards.breaker import resume

    runtime = runtime_from_env()
    try:
        cleared, due = resume(runtime, target)
    except ValueError as exc:
        fail(str(exc))
    out.print((f"resumed {', '.join(cleared)}" if cleared else f"resumed {target} already (nothing was paused)")
              + (f"; {due:,} waiting messages are due now" if due else ""))


@cli.command("flush")
def flush_cmd(kind: str = typer.Argument(..., help="transactional or bulk"),
              delete: bool = typer.Option(False, "--delete", help="Delete instead of parking (asks to confirm)."),
              yes: bool = typer.Option(False, "--yes", help="Confirm --delete without asking.")) -> None:
    """Move a kind's queued and deferred messages to its parked list (nothing is deleted by default)."""
    from ses_ramp.worker.ops.parking import delete_parked, flush

    kind = kind_or_exit(kind)
    runtime = runtime_from_env()
    counts = flush(runtime, kind)
    out.print(f"parked {counts['queued']} queued and {counts['deferred']} deferred {kind} messages ({counts['parked_total']} parked in all)")
    if delete:
        n = counts["parked_total"]
        if not yes and not typer.confirm(f"Delete all {n} parked {kind} messages? They cannot be recovered"):
            out.print("kept them parked")
            raise typer.Exit(1)
        out.print(f"deleted {delete_parked(runtime, kind)} parked {kind} messages")


@cli.command("restore")
def restore_cmd(kind: str | None = typer.Argument(None, help="transactional or bulk (default: both)")) -> None:
    """Put parked messages back on their queue, oldest first; expired ones are reported, not sent."""
    from ses_ramp.producers import Producer
    from ses_ramp.worker.cli.common import open_runtime
    from ses_ramp.worker.ops.parking import KINDS, restore

    kinds = (kind_or_exit(kind),) if kind else KINDS
    settings = with_redis(settings_or_exit())
    runtime = open_runtime(settings)
    producer = Producer(settings)
    try:
        report = restore(runtime, producer, kinds)
    finally:
        producer.close()
    out.print(f"restored {report.restored}; {len(report.expired)} expired (dead-lettered, not sent late); {len(report.refused)} refused")
    for mid in report.expired:
        out.print(f"  expired: {mid}")


@cli.command("probation")
def probation_cmd(state: str = typer.Argument(..., help="on or off")) -> None:
    """Preset for an account on SES probation: bulk paused, today's cap lowered, breaker tightened."""
    from ses_ramp.worker.guards.probation import probation_off, probation_on

    if state not in ("on", "off"):
        fail("probation takes on or off")
    runtime = runtime_from_env()
    if state == "on":
        change = probation_on(runtime)
        out.print(f"probation on: bulk paused, the day's cap {change.cap_before:,} -> {change.cap_now:,} until `ramp probation off`, "
                  f"breaker levels x{change.rate_share}" if change.changed else "probation on already")
    else:
        change = probation_off(runtime)
        out.print(f"probation off: the day's cap {change.cap_before:,} -> {change.cap_now:,}, bulk and breaker levels restored"
                  if change.changed else "probation off already")
