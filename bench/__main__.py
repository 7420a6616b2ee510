"""`python -m bench`: every ses-ramp figure in one run, printed as a table.

Figures: enqueue_many vs one-by-one enqueue; drain throughput of a real worker with the gate and a
no-op transport, and against moto's SES server, beside bare Celery noop on the same broker and pool;
gate round trips per message.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import redis
from pydantic import SecretStr

from bench.http import http_vs_in_process
from ses_ramp.config import Settings
from ses_ramp.producers import Producer
from ses_ramp.worker.ops.embedded import EmbeddedRedis, MotoSES, free_port, stop_process_group

FROM = "bench@example.com"


def messages(n: int, kind: str = "bulk") -> list[dict]:
    return [{"to": [f"u{i}@example.com"], "subject": f"bench {i}", "text": "hello", "kind": kind, **({"list": "news"} if kind == "bulk" else {})} for i in range(n)]


def settings_env(s: Settings) -> dict[str, str]:
    return {f"RAMP_{k.upper()}": str(v.get_secret_value() if isinstance(v, SecretStr) else v)
            for k, v in s.model_dump().items() if v is not None}


def start_worker(argv: list[str], env: dict, log: str) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    stop_process_group(proc)


def wait_count(read, n: int, timeout_s: float = 300) -> float:
    """Seconds until read() >= n (polled every 10 ms)."""
    t0 = time.perf_counter()
    while read() < n:
        if time.perf_counter() - t0 > timeout_s:
            raise TimeoutError(f"only {read()} of {n} done")
        time.sleep(0.01)
    return time.perf_counter() - t0


def drain_rate(read, start: int, n: int) -> float:
    """Messages/s from the first to the last of `n` processed (counter read() starting at `start`):
    the queue is filled before the worker starts, so neither publishing nor start-up is timed."""
    wait_count(lambda: read() - start, 1)
    t0 = time.perf_counter()
    wait_count(lambda: read() - start, n)
    return (n - 1) / (time.perf_counter() - t0)


def bench_enqueue(base: Settings, n: int) -> tuple[float, float]:
    s = base.model_copy(update={"key_prefix": f"be{uuid.uuid4().hex[:6]}"})
    p = Producer(s)
    msgs = messages(n)
    t0 = time.perf_counter()
    p.enqueue_many(msgs)
    many = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for m in msgs:
        p.enqueue(m)
    single = n / (time.perf_counter() - t0)
    p.close()
    return many, single


def bench_drain(base: Settings, n: int, transport: str, concurrency: int, tmp: str) -> tuple[float, float]:
    """Messages/s of a real `celery worker` draining `n` pre-validated messages; gate calls per message."""
    s = base.model_copy(update={"key_prefix": f"bd{uuid.uuid4().hex[:6]}", "transport": transport})
    env = {**os.environ, **settings_env(s)}
    client = redis.Redis.from_url(s.effective_redis_url, decode_responses=True)
    p = Producer(s)
    p.enqueue_many(messages(n))
    p.close()
    day = f"{s.key_prefix}:{{{s.key_prefix}}}:day"
    sent = lambda: int(client.hget(day, "sent") or 0)  # noqa: E731
    before = _evalsha_calls(client)
    worker = start_worker([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk",
                           "-c", str(concurrency), "--without-gossip", "--without-mingle", "-l", "WARNING"], env, f"{tmp}/{s.key_prefix}.log")
    try:
        rate = drain_rate(sent, 0, n)
        # Each message runs gate.lua then settle.lua (+1 roll-over clock read): gate calls = calls - settles.
        calls = _evalsha_calls(client) - before
        return rate, (calls - n - 1) / n
    finally:
        stop(worker)


def _evalsha_calls(client) -> int:
    stats = client.info("commandstats")
    return sum(stats.get(k, {}).get("calls", 0) for k in ("cmdstat_evalsha", "cmdstat_eval"))


def bench_bare(base: Settings, n: int, concurrency: int, tmp: str) -> float:
    counter = f"bench:bare:{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "BENCH_BROKER": base.effective_redis_url, "BENCH_COUNTER": counter}
    os.environ["BENCH_BROKER"] = base.effective_redis_url
    from bench.bare_app import app

    client = redis.Redis.from_url(base.effective_redis_url)
    with app.producer_or_acquire() as producer, producer.batch(max_size=1000):
        for m in messages(n):
            app.send_task("bench.noop", args=[m], producer=producer)
    worker = start_worker([sys.executable, "-m", "celery", "-A", "bench.bare_app", "worker", "-c", str(concurrency),
                           "--without-gossip", "--without-mingle", "-l", "WARNING"], env, f"{tmp}/bare.log")
    try:
        return drain_rate(lambda: int(client.get(counter) or 0), 0, n)
    finally:
        stop(worker)
        client.delete(counter)


def bench_overshoot(base: Settings, moto, cap: int, workers: int, tmp: str) -> dict:
    """`workers` real worker processes race to send 10x the day's cap; count what SES received."""
    s = base.model_copy(update={"key_prefix": f"bo{uuid.uuid4().hex[:6]}", "transport": "ses-api", "warmup_start_per_day": cap,
                                "warmup_target_per_day": 50_000, "rate_per_s": 200, "rate_burst": 20})
    env = {**os.environ, **settings_env(s)}
    client = redis.Redis.from_url(s.effective_redis_url, decode_responses=True)
    p = Producer(s)
    mixed = [m if i % 5 else {**{k: v for k, v in m.items() if k != "list"}, "kind": "transactional"} for i, m in enumerate(messages(cap * 10))]
    ids = {r.id for r in p.enqueue_many(mixed)}
    p.close()
    procs = [start_worker([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk", "-c", "1",
                           "-n", f"o{i}@bench", "--without-gossip", "--without-mingle", "-l", "WARNING"], env, f"{tmp}/o{i}.log")
             for i in range(workers)]
    try:
        deferred = f"{s.key_prefix}:{{{s.key_prefix}}}:deferred"
        wait_count(lambda: client.zcard(deferred), cap * 9, timeout_s=300)
        import email

        sent = sum(1 for m in moto.sent_messages() if email.message_from_string(m.raw_data).get("X-Ses-Ramp-Id") in ids)
    finally:
        for proc in procs:
            stop(proc)
    return {"cap": cap, "sent": sent, "overshoot": sent - cap, "workers": workers}


def bench_simulate(url: str, days: int = 45) -> dict:
    """`ramp simulate --days 45` as an operator runs it (a process of its own); wall time, target day."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}, "RAMP_REDIS_URL": url}
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "ramp"), "simulate", "--days", str(days), "--json"], env=env,
                          capture_output=True, text=True, check=True)
    rows = json.loads(done.stdout)
    reached = next((r["day"] for r in rows if r["sent"] >= 50_000), None)
    return {"days": days, "seconds": time.perf_counter() - started, "reached": reached, "sent": sum(r["sent"] for r in rows)}


def print_http(r: dict) -> None:
    h, loc = r["http"], r["local"]
    print(f"ses-ramp bench (http), {date.today()}, {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"batches of 100 bulk messages, {h['requests']} requests each side, {r['rounds']} alternating rounds")
    print("| path                        | p50 ms | p99 ms | min ms | max ms |   msg/s |")
    print("|-----------------------------|--------|--------|--------|--------|---------|")
    for name, x in (("POST /v1/messages (uvicorn)", h), ("enqueue_many in-process", loc)):
        print(f"| {name:<27} | {x['p50_ms']:6.1f} | {x['p99_ms']:6.1f} | {x['min_ms']:6.1f} | {x['max_ms']:6.1f} | {x['msg_per_s']:7,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--backlog", type=int, default=100_000, help="bulk messages queued ahead of the transactional probes")
    ap.add_argument("--deferred", type=int, default=100_000, help="messages deferred for the memory figure")
    ap.add_argument("--eta", type=int, default=50_000, help="Celery ETA tasks for the comparison")
    ap.add_argument("--only", choices=["http"], help="run one figure alone")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ses-ramp-bench-")
    url = os.environ.get("RAMP_REDIS_URL") or os.environ.get("REDIS_URL")
    server = None
    if not url:
        server = EmbeddedRedis(free_port(), f"{tmp}/redis", persist=False).start()
        url = server.url
    moto = MotoSES().start(FROM, "ses-ramp")
    for name, value in moto.credentials_env().items():  # the workers this bench starts sign their calls with them
        os.environ.setdefault(name, value)
    base = Settings(
        _env_file=None, redis_url=url, from_address=FROM, ses_endpoint_url=moto.endpoint_url,
        warmup_start_per_day=10_000_000, warmup_target_per_day=10_000_000, hourly_burst_factor=24,
        rate_per_s=1_000_000, rate_burst=1000, log_level="WARNING",
    )
    n, c = args.messages, args.concurrency
    if args.only == "http":
        try:
            print_http(http_vs_in_process(base, {**os.environ, **settings_env(base)}, tmp))
        finally:
            moto.stop()
            if server:
                server.stop()
        return
    from bench.latency import fifo_p99, transactional_p99
    from bench.memory import celery_eta_rss, ramp_deferred_rss

    env_of = lambda s: {**os.environ, **settings_env(s)}  # noqa: E731
    try:
        many, single = bench_enqueue(base, n)
        # A drain of a few thousand messages lasts seconds, so one pair is noisy: run bare and gated
        # drains alternately three times and report the median of the paired ratios.
        pairs = []
        for _ in range(3):
            bare_run = bench_bare(base, n, c, tmp)
            noop_run, gate_calls = bench_drain(base, n, "noop", c, tmp)
            pairs.append((noop_run / bare_run, bare_run, noop_run))
        pairs.sort()
        ratio, bare, noop = pairs[1]
        ses, _ = bench_drain(base, n, "ses-api", c, tmp)
        over = bench_overshoot(base, moto, 200, 4, tmp)
        lat = transactional_p99(base, moto, args.backlog, 200, tmp, env_of)
        fifo = fifo_p99(url, args.backlog, 20, tmp)
        mem = ramp_deferred_rss(base, args.deferred, tmp, env_of)
        eta = celery_eta_rss(url, args.eta, tmp)
        sim = bench_simulate(url)
    finally:
        moto.stop()
        if server:
            server.stop()
    rows = [
        ("enqueue_many", f"{many:,.0f} msg/s", f"{many / single:.1f}x one-by-one enqueue ({single:,.0f} msg/s)"),
        ("bare Celery noop drain", f"{bare:,.0f} msg/s", f"prefork -c {c}, same broker"),
        ("drain, gate + noop transport", f"{noop:,.0f} msg/s",
         f"{ratio:.2f}x bare Celery noop (median of 3 paired runs: {', '.join(f'{p[0]:.2f}x' for p in pairs)})"),
        ("drain, gate + moto SES API", f"{ses:,.0f} msg/s", f"{ses / bare:.2f}x bare Celery noop"),
        ("gate round trips per message", f"{gate_calls:.2f}", "must be 1: one Lua call decides and reserves"),
        ("quota overshoot, 4 workers", f"{over['overshoot']}", f"must be 0: cap {over['cap']}, SES got {over['sent']} of {over['cap'] * 10} queued"),
        ("transactional p99 behind bulk", f"{lat['p99_ms']:,.0f} ms",
         f"p50 {lat['p50_ms']:,.0f} ms, {lat['backlog']:,} bulk queued, 14/s saturated; target <= {lat['target_ms']:.0f} ms"),
        ("  same, plain FIFO Celery", f"{fifo['p99_ms'] / 1000:,.0f} s",
         ("estimated from its drain rate: not reached in %.0f s" % fifo["observed_s"]) if fifo["estimated"] else "measured"),
        (f"worker RSS, {mem['n']:,} deferred", f"+{mem['added_mb']:.1f} MB", f"{mem['before_mb']:.0f} -> {mem['after_mb']:.0f} MB; target < 30 MB"),
        (f"  same, {eta['n']:,} Celery ETA tasks", f"+{eta['added_mb']:.1f} MB", f"{eta['before_mb']:.0f} -> {eta['after_mb']:.0f} MB"),
        (f"ramp simulate, {sim['days']} days", f"{sim['seconds']:.1f} s",
         f"target < 30 s; {sim['sent']:,} recipients through the real gate; 50,000/day on day {sim['reached']}"),
    ]
    print(f"ses-ramp bench, {date.today()}, {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, {n} messages")
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{width}} | {'value':>14} | note")
    print(f"|{'-' * (width + 2)}|{'-' * 16}|------")
    for name, value, note in rows:
        print(f"| {name:<{width}} | {value:>14} | {note}")


if __name__ == "__main__":
    main()
