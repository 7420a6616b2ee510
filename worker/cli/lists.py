"""`ramp dead list|retry|purge` and `ramp suppress add|remove|list|import`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import typer

from ses_ramp.worker.cli import render
from ses_ramp.worker.cli.common import cli, err, fail, open_runtime, out, runtime_from_env, settings_or_exit, with_redis

dead_cli = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Dead letters: messages that failed for good or ran out of attempts.")
cli.add_typer(dead_cli, name="dead")
unconfirmed_cli = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                              help="Sends SES may have (a worker died inside the call): resolved by Send events, or by you.")
cli.add_typer(unconfirmed_cli, name="unconfirmed")
suppress_cli = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="The suppression list: addresses never mailed again.")
cli.add_typer(suppress_cli, name="suppress")


def show_list(entries: list, as_json: bool, noun: str, columns: tuple[str, ...], rows: Sequence[Sequence[str]],
              right: tuple[str, ...] = ()) -> None:
    """A listing as JSON, as "no <noun>s", or as a table whose id column is never cut."""
    if as_json:
        print(json.dumps(entries))
    elif not entries:
        out.print(f"no {noun}s")
    else:
        table = render.table(*columns, title=f"{len(entries)} {noun}(s), oldest first", right=right, keep=("id",))
        for row in rows:
            table.add_row(*row)
        out.print(table)


@dead_cli.command("list")
def dead_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List dead letters, oldest first, with their last error."""
    from ses_ramp.worker.ops.dead import dead_entries

    entries = dead_entries(runtime_from_env())
    # The id is what `ramp dead retry` takes: never wrapped or cut; the error wraps instead.
    rows = [(e["message"].get("id", "?"), e["message"].get("kind", "?"), str(e.get("attempts", "")), e.get("error", "")[:300])
            for e in entries]
    show_list(entries, as_json, "dead letter", ("id", "kind", "tries", "error"), rows, right=("tries",))


@dead_cli.command("purge")
def dead_purge(
    older_than: str = typer.Option(..., "--older-than", help="Age, e.g. 30d, 12h, 90m; 0 purges every dead letter."),
) -> None:
    """Delete dead letters older than --older-than (RAMP_DEAD_RETENTION_DAYS does it daily by itself)."""
    from ses_ramp.worker.ops.dead import purge_dead

    age_s = parse_age_s(older_than)
    if age_s is None:
        fail(f"--older-than {older_than!r}: give a number with d, h, m or s (30d, 12h), or 0")
    purged = purge_dead(runtime_from_env(), float(age_s or 0))
    out.print(f"purged {purged} dead letter(s)" + (f" older than {older_than}" if age_s else ""))


def parse_age_s(text: str) -> float | None:
    """`30d`, `12h`, `90m`, `45s` or `0` -> seconds; None when unreadable."""
    text = text.strip().lower()
    if text == "0":
        return 0.0
    unit = {"d": 86400, "h": 3600, "m": 60, "s": 1}.get(text[-1:]) if text else None
    try:
        value = float(text[:-1]) if unit else None
    except ValueError:
        return None
    return value * unit if value is not None and unit and value > 0 else None


@dead_cli.command("retry")
def dead_retry(
    message_id: str | None = typer.Argument(None, help="One dead letter's id."),
    all_: bool = typer.Option(False, "--all", help="Re-enqueue every dead letter."),
) -> None:
    """Re-enqueue dead letters (validated and suppression-checked again, attempts reset)."""
    from ses_ramp.producers import Producer
    from ses_ramp.worker.ops.dead import retry_dead

    if bool(message_id) == all_:
        fail("give one message id or --all")
    settings = with_redis(settings_or_exit())
    runtime = open_runtime(settings)
    producer = Producer(settings)
    try:
        report = retry_dead(runtime, producer, None if all_ else [str(message_id)])
    finally:
        producer.close()
    for mid, why in report.kept:
        err.print(f"[yellow]kept {mid}:[/yellow] {why}")
    out.print(f"re-enqueued {report.done}, kept {len(report.kept)}")
    if report.kept:
        raise typer.Exit(1)


@suppress_cli.command("add")
def suppress_add(addresses: list[str]) -> None:
    from ses_ramp.worker.ops import suppression

    out.print(f"suppressed {suppression.add(runtime_from_env(), addresses)} new address(es)")


@suppress_cli.command("remove")
def suppress_remove(addresses: list[str]) -> None:
    from ses_ramp.worker.ops import suppression

    out.print(f"removed {suppression.remove(runtime_from_env(), addresses)} address(es)")


@suppress_cli.command("list")
def suppress_list() -> None:
    from ses_ramp.worker.ops import suppression

    addresses = suppression.listed(runtime_from_env())
    if not addresses:
        out.print("no suppressed addresses")
    for address in addresses:
        print(address)


@suppress_cli.command("sync-ses")
def suppress_sync_ses() -> None:
    """Import SES's account-level suppression list (addresses SES would drop without sending)."""
    from ses_ramp.worker.ops import suppression
    from ses_ramp.worker.send.transports.ses_api import ses_client

    runtime = runtime_from_env()
    listed, added = suppression.sync_ses(runtime, ses_client(runtime.settings))
    out.print(f"SES's account suppression list holds {listed:,} address(es); {added:,} newly suppressed here")


@suppress_cli.command("import")
def suppress_import(file: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Import addresses from a CSV (first column with an @) or a file with one address per line."""
    from ses_ramp.worker.ops import suppression

    read, added = suppression.import_text(runtime_from_env(), file.read_text(errors="replace"))
    out.print(f"read {read} addresses, {added} newly suppressed")


@unconfirmed_cli.command("list")
def unconfirmed_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Unconfirmed sends, oldest first."""
    from ses_ramp.worker.ops.unconfirmed import entries

    runtime = runtime_from_env()
    found = entries(runtime)
    now_ms = runtime.budget.now_ms()
    rows = [(e["id"], e["message"].get("kind", "?"), render.duration((now_ms - e["at_ms"]) / 1000), e.get("detail", "")[:200])
            for e in found]
    show_list(found, as_json, "unconfirmed send", ("id", "kind", "since", "why"), rows)


@unconfirmed_cli.command("resend")
def unconfirmed_resend(message_id: str) -> None:
    """Send it again: you checked that SES never had it (its charge is refunded, the resend charges anew)."""
    from ses_ramp.worker.ops.unconfirmed import decide

    if not decide(runtime_from_env(), message_id, "resend"):
        fail(f"no unconfirmed send {message_id}", 1)
    out.print(f"resent {message_id}")


@unconfirmed_cli.command("drop")
def unconfirmed_drop(message_id: str) -> None:
    """Close it without sending again (SES had it, or it is no longer wanted)."""
    from ses_ramp.worker.ops.unconfirmed import decide

    if not decide(runtime_from_env(), message_id, "dropped"):
        fail(f"no unconfirmed send {message_id}", 1)
    out.print(f"dropped {message_id}")

