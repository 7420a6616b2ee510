"""`ramp demo`: the whole send path on embedded parts, no AWS account and no Redis install needed."""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ses_ramp.config import Settings, schedule
from ses_ramp.config.environment import child_env
from ses_ramp.config.provider_ramp import split
from ses_ramp.producers.redis_client import hash_fields
from ses_ramp.worker.ops.receivers import SIM_DOMAINS

DEMO_FROM = "warmup@example.com"


def demo_messages(n: int, seed: int = 7, mix: dict[str, float] | None = None) -> list[dict]:
    """A mixed batch: about a quarter transactional (resets, receipts), the rest bulk; the recipients'
    mailbox providers in the `mix`'s proportions, interleaved (each provider has its own ramp)."""
    rng = random.Random(seed)
    counts = split(n, mix or {"other": 1.0})
    providers = [p for _, p in sorted((j / c, p) for p, c in counts.items() for j in range(c))]
    out = []
    for i in range(n):
        tx = i % 4 == 0
        out.append(
            {
                "to": [f"user{i}@{SIM_DOMAINS[providers[i]]}"],
                "subject": ("Your receipt" if tx else "This week's digest") + f" #{i}",
                "text": f"Hello user {i}, this is message {i} of the ses-ramp demo.",
                "html": f"<p>Hello user {i}, this is message <b>{i}</b> of the ses-ramp demo.</p>",
                "kind": "transactional" if tx else "bulk",
                **({} if tx else {"list": "weekly-digest"}),
                "engagement": round(rng.uniform(0.6, 1.0) if tx else rng.uniform(0.1, 0.7), 2),
                "tags": {"campaign": "demo"},
            }
        )
    return out


def _demo_step(settings: Settings, n: int) -> int:
    """The first warm-up step whose cap fits the whole batch (the demo plays 'day k of the ramp')."""
    cfg = schedule.ScheduleConfig.from_settings(settings)
    caps = schedule.step_caps(cfg)
    need = n / (1 - settings.transactional_reserve_share) if settings.transactional_reserve_share < 1 else n
    return next((i for i, c in enumerate(caps) if c >= need), len(caps) - 1)


def run_demo(settings: Settings, n: int, concurrency: int, timeout_s: float, out: Console) -> int:
    from ses_ramp.producers import Producer
    from ses_ramp.worker.ops.embedded import EmbeddedRedis, MotoSES, free_port, stop_process_group
    from ses_ramp.worker.send.runtime import Runtime
    from ses_ramp.worker.send.transports.noop import NoopTransport

    workdir = Path(tempfile.mkdtemp(prefix="ses-ramp-demo-"))
    redis_server = None
    worker = None
    moto = MotoSES(settings.ses_region)
    started = time.monotonic()
    try:
        redis_url = settings.redis_url
        if redis_url is None:
            redis_server = EmbeddedRedis(free_port(), workdir / "redis", persist=False).start()
            redis_url = redis_server.url
        from_address = str(settings.from_address or DEMO_FROM)
        moto.start(from_address, settings.configuration_set)
        step = _demo_step(settings, n)
        demo_settings = settings.model_copy(
            update={
                "redis_url": redis_url,
                "ses_endpoint_url": moto.endpoint_url,
                "from_address": from_address,
                "key_prefix": f"demo-{uuid.uuid4().hex[:8]}",
                "hourly_burst_factor": 24.0,
                "transport": "ses-api",
                # Bulk mail carries one-click unsubscribe links; the demo signs them with a throw-away secret.
                "unsubscribe_base_url": settings.unsubscribe_base_url or "https://unsubscribe.demo.invalid",
                "unsubscribe_secret": settings.unsubscribe_secret or SecretStr(uuid.uuid4().hex + uuid.uuid4().hex),
            }
        )
        runtime = Runtime.build(demo_settings, transport=NoopTransport())
        runtime.client.hset(runtime.budget.keys.ramp, mapping=hash_fields(schedule.RampState(step=step).to_redis()))
        cap = schedule.cap_for(runtime.budget.cfg, schedule.RampState(step=step))
        out.print(
            f"[bold]ses-ramp demo[/bold]: embedded Redis at {redis_url}, moto SES at {moto.endpoint_url}\n"
            f"warm-up step {step} (cap {cap:,} recipients/day), rate {settings.rate_per_s}/s, "
            f"configuration set [cyan]{settings.configuration_set}[/cyan]"
        )
        env = child_env({
            **moto.credentials_env(),
            "RAMP_REDIS_URL": redis_url,
            "RAMP_SES_ENDPOINT_URL": moto.endpoint_url,
            "RAMP_FROM_ADDRESS": from_address,
            "RAMP_KEY_PREFIX": demo_settings.key_prefix,
            "RAMP_HOURLY_BURST_FACTOR": "24",
            "RAMP_TRANSPORT": "ses-api",
            "RAMP_MOVER_INTERVAL_S": "0.2",
            "RAMP_UNSUBSCRIBE_BASE_URL": str(demo_settings.unsubscribe_base_url),
            "RAMP_UNSUBSCRIBE_SECRET": demo_settings.unsubscribe_secret.get_secret_value() if demo_settings.unsubscribe_secret else "",
        })
        log_path = workdir / "worker.log"
        with open(log_path, "wb") as log_file:
            worker = subprocess.Popen(
                [sys.executable, "-m", "ses_ramp.worker", "worker", "-c", str(concurrency)],
                env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )
        producer = Producer(demo_settings)
        receipts = producer.enqueue_many(demo_messages(n, mix=demo_settings.provider_shares if demo_settings.provider_ramps else None))
        producer.close()
        wanted = {r.id: r.kind for r in receipts}

        accepted: dict[str, str] = {}
        with Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=out) as bar:
            task = bar.add_task("send", total=n)
            while len(accepted) < n and time.monotonic() - started < timeout_s:
                for m in moto.sent_messages()[len(accepted) :]:
                    mid = _ramp_id(m)
                    if mid in wanted:
                        accepted[mid] = wanted[mid]
                bar.update(task, completed=len(accepted))
                if worker.poll() is not None:
                    break
                time.sleep(0.1)
        elapsed = time.monotonic() - started
        status = runtime.budget.status()
        counts = runtime.deferrals.counts()
        table = Table(title="ses-ramp demo")
        for col in ("kind", "enqueued", "accepted by SES"):
            table.add_column(col, justify="right")
        for kind in ("transactional", "bulk"):
            table.add_row(kind, str(sum(1 for k in wanted.values() if k == kind)), str(sum(1 for k in accepted.values() if k == kind)))
        table.add_row("failed / dead", "", str(counts["dead"]))
        table.add_row("elapsed", "", f"{elapsed:.1f} s")
        table.add_row("today's budget used", "", f"{status['used']:,} of {status['cap']:,}")
        out.print(table)
        ok = len(accepted) == n and counts["dead"] == 0
        out.print(f"{len(accepted)} sent, {n - len(accepted)} failed" + ("" if ok else f"; worker log: {log_path}"))
        return 0 if ok else 1
    finally:
        if worker is not None:
            stop_process_group(worker)
        moto.stop()
        if redis_server is not None:
            redis_server.stop()


def _ramp_id(sent) -> str | None:
    import email

    raw = getattr(sent, "raw_data", None)
    if raw is None:
        return None
    return email.message_from_string(raw).get("X-Ses-Ramp-Id")
