"""`ramp worker`, `ramp enqueue`, `ramp demo`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from ses_ramp.worker.cli.common import cli, err, fail, open_runtime, out, settings_or_exit, with_redis


@cli.command()
def worker(
    concurrency: int | None = typer.Option(None, "--concurrency", "-c", help="Worker processes (RAMP_WORKER_CONCURRENCY)."),
    queues: str = typer.Option("transactional,bulk", "--queues", "-Q"),
    pool: str = typer.Option("prefork", help="Celery pool: prefork, threads, solo."),
    hostname: str | None = typer.Option(None, "--hostname", "-n", help="Celery node name (default: ramp-<6 hex>@<host>, unique per process)."),
    supervise: bool = typer.Option(True, help="Restart the Celery worker if it dies unexpectedly."),
    skip_preflight: bool = typer.Option(False, "--skip-preflight", help="Start without checking that SES accepts this configuration."),
) -> None:
    """Start a Celery worker draining both queues under the warm-up budget."""
    settings = with_redis(settings_or_exit())
    runtime = open_runtime(settings)  # a Redis that is unreachable or misconfigured: one line now, not a silent hang
    if not skip_preflight:
        from ses_ramp.worker.ops.preflight import preflight, ses_warmup_notes

        problems = preflight(settings)
        if not problems and settings.transport == "ses-api":
            from ses_ramp.worker.send.transports.ses_api import ses_client

            refused, warnings = ses_warmup_notes(settings, ses_client(settings), runtime.client, runtime.budget.keys,
                                                 runtime.budget.now_ms())
            problems += refused
            for line in warnings:
                err.print(f"[yellow]ses-ramp: warning:[/yellow] {line}", soft_wrap=True)
        if problems:
            fail("cannot send as configured: " + "; ".join(problems))
    argv = [
        "worker", "-Q", queues, "-c", str(concurrency or settings.worker_concurrency), "-P", pool,
        "-l", settings.log_level, "--without-gossip", "--without-mingle",
    ]
    from ses_ramp.worker.fleet.supervise import default_node_name

    argv += ["-n", hostname or default_node_name()]
    if not supervise:
        from ses_ramp.worker.app import create_app

        create_app(settings).worker_main(argv)
        return
    from ses_ramp.worker.fleet.supervise import supervise_worker

    raise typer.Exit(supervise_worker([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", *argv]))


@cli.command()
def enqueue(
    file: Path | None = typer.Argument(None, exists=True, dir_okay=False,
                                       help="JSON: one message or a list of them; with --campaign, the recipients' CSV."),
    schema: bool = typer.Option(False, "--schema", help="Print the JSON Schema of a message and exit."),
    campaign: Path | None = typer.Option(None, "--campaign", exists=True, dir_okay=False,
                                         help="JSON content of a campaign (subject, text/html templates, list...); FILE is "
                                              "a CSV with an email column, optional name and engagement, and the templates' fields."),
    campaign_id: str | None = typer.Option(None, "--campaign-id", help="Name the campaign (a second run with it is refused)."),
    expire_ok: bool = typer.Option(False, "--expire-ok", help="Accept a campaign whose last recipient goes out after it expires."),
) -> None:
    """Validate and enqueue the message(s) in FILE, or a campaign; print one receipt per message (campaign)."""
    from ses_ramp.producers import Producer, ProducerError
    from ses_ramp.producers.message import message_schema

    if schema:
        print(json.dumps(message_schema(), indent=2))
        return
    if file is None:
        fail("give a JSON file of messages (or --schema to see their format)")
    settings = with_redis(settings_or_exit())
    if campaign is not None:
        raise typer.Exit(_enqueue_campaign(settings, campaign, file, campaign_id, expire_ok))
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        fail(f"{file}: not JSON: {exc}")
    producer = Producer(settings)
    try:
        receipts = producer.enqueue_many(data if isinstance(data, list) else [data])
    except ProducerError as exc:
        fail(str(exc), 2 if isinstance(exc, ValueError) else 3)
    finally:
        producer.close()
    for r in receipts:
        out.print_json(json.dumps({"id": r.id, "kind": r.kind, "recipients": r.recipients, "estimated_send_date": r.estimated_send_date}))


def _enqueue_campaign(settings, content_file: Path, csv_file: Path, campaign_id: str | None, expire_ok: bool) -> int:
    from dataclasses import asdict

    from ses_ramp.producers import Producer, ProducerError
    from ses_ramp.producers.campaigns import from_csv

    try:
        content = json.loads(content_file.read_text())
    except json.JSONDecodeError as exc:
        fail(f"{content_file}: not JSON: {exc}")
    producer = Producer(settings)
    try:
        receipt = producer.enqueue_campaign(content, from_csv(csv_file), campaign_id=campaign_id, expire_ok=expire_ok)
    except ProducerError as exc:
        fail(str(exc), 2 if isinstance(exc, ValueError) else 3)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{csv_file}: cannot read: {exc}")
    finally:
        producer.close()
    out.print_json(json.dumps(asdict(receipt)))
    return 0


campaigns_cli = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Campaigns: one content, many recipients.")
cli.add_typer(campaigns_cli, name="campaigns")


@campaigns_cli.command("list")
def campaigns_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Campaigns still sending: recipients fed to the queues, settled, left out."""
    from ses_ramp.worker.cli.render import campaign_table
    from ses_ramp.worker.ops.campaigns import listing

    rows = listing(open_runtime(with_redis(settings_or_exit())))
    if as_json:
        print(json.dumps(rows))
    else:
        out.print(campaign_table(rows) if rows else "no campaign is sending")
        for r in rows:  # a pause's reason and a probe's line in full, whatever the terminal's width
            if r.get("paused"):
                out.print(f"paused {r['id']}: {r['paused']['reason']} (`ramp resume campaign:{r['id']}`)", soft_wrap=True, markup=False)
            if r.get("probe_line"):
                hint = f" (`ramp campaigns release|cancel {r['id']}`)" if r.get("probe") == "parked" else ""
                out.print(f"{r['id']}: {r['probe_line']}{hint}", soft_wrap=True, markup=False)


@campaigns_cli.command("release")
def campaigns_release(campaign_id: str,
                      by: str | None = typer.Option(None, "--by", help="Who releases (default RAMP_OPERATOR, else USER).")) -> None:
    """Send a probed campaign's held new recipients (after a failed or inconclusive probe, or without waiting for it)."""
    from ses_ramp.worker.ops.campaigns import NoSuchCampaign, release

    runtime = open_runtime(with_redis(settings_or_exit()))
    try:
        n = release(runtime, campaign_id, by or runtime.settings.operator)
    except NoSuchCampaign:
        fail(f"campaign {campaign_id} holds no recipients for a probe (see `ramp campaigns list`)")
    out.print(f"campaign {campaign_id}: {n:,} held recipients released; they go out as the ramp allows", soft_wrap=True)


@campaigns_cli.command("cancel")
def campaigns_cancel(campaign_id: str) -> None:
    """Drop a campaign's recipients not yet fed (held by a probe too); those already queued go on (pause bulk to hold them)."""
    from ses_ramp.worker.ops.campaigns import NoSuchCampaign, cancel

    try:
        done = cancel(open_runtime(with_redis(settings_or_exit())), campaign_id)
    except NoSuchCampaign:
        fail(f"no campaign {campaign_id} (see `ramp campaigns list`)")
    out.print(f"campaign {campaign_id}: {done['dropped']:,} recipients dropped; {done['in_flight']:,} already fed still go "
              "(`ramp pause bulk` holds them)", soft_wrap=True)


@cli.command()
def demo(
    messages: int = typer.Option(200, "--messages", "-m", min=1, max=20000),
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1),
    timeout_s: float = typer.Option(300.0, "--timeout"),
) -> None:
    """Run the whole path on embedded parts: Redis, moto's SES, a real worker; send a mixed batch."""
    from ses_ramp.worker.ops.demo import run_demo

    raise typer.Exit(run_demo(settings_or_exit(), messages, concurrency, timeout_s, out))
