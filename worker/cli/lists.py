"""`ramp dead list|retry` and `ramp suppress add|remove|list|import`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ses_ramp.worker.cli import render
from ses_ramp.worker.cli.common import cli, err, fail, open_runtime, out, runtime_from_env, settings_or_exit, with_redis

dead_cli = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Dead letters: messages that failed for good or ran out of attempts.")
cli.add_typer(dead_cli, name="dead")
suppress_cli = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="The suppression list: addresses never mailed again.")
cli.add_typer(suppress_cli, name="suppress")


@dead_cli.command("list")
def dead_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List dead letters, oldest first, with their last error."""
    from ses_ramp.worker.ops.dead import dead_entries

    entries = dead_entries(runtime_from_env())
    if as_json:
        print(json.dumps(entries))
        return
    if not entries:
        out.print("no dead letters")
        return
    # The id is what `ramp dead retry` takes: never wrapped or cut; the error wraps instead.
    table = render.table("id", "kind", "tries", "error", title=f"{len(entries)} dead letter(s), oldest first",
                         right=("tries",), keep=("id",))
    for e in entries:
        m = e["message"]
        table.add_row(m.get("id", "?"), m.get("kind", "?"), str(e.get("attempts", "")), e.get("error", "")[:300])
    out.print(table)


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


@suppress_cli.command("import")
def suppress_import(file: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Import addresses from a CSV (first column with an @) or a file with one address per line."""
    from ses_ramp.worker.ops import suppression

    read, added = suppression.import_text(runtime_from_env(), file.read_text(errors="replace"))
    out.print(f"read {read} addresses, {added} newly suppressed")
