"""`python -m bench` (`make bench`): every ses-ramp figure in one run, printed as one table.

Each comparison runs side by side on the same Redis in the same run, alternating order (ABBA) over at
least 7 pairs, and reports min / median / max; every figure printed is measured here, none
extrapolated. The bench works in a database of its own under its own key prefix, refuses a database
holding keys it did not write (unless --force), and deletes everything it wrote when it ends, also on
Ctrl-C and on failure (`bench/guard.py`).
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
from datetime import date
from pathlib import Path

from pydantic import SecretStr

from bench import guard
from ses_ramp.config import Settings
from ses_ramp.worker.ops.embedded import EmbeddedRedis, MotoSES, free_port

FROM = "bench@example.com"
FIGURES = ("enqueue", "size", "campaign", "known", "gate", "drain", "overflow", "ses", "overshoot", "latency", "memory", "http", "simulate")


def settings_env(s: Settings) -> dict[str, str]:
    def text(v: object) -> str:  # a complex setting goes as JSON, which pydantic-settings reads back
        if isinstance(v, SecretStr):
            return v.get_secret_value()
        return json.dumps(v) if isinstance(v, dict | list) else str(v)

    return {f"RAMP_{k.upper()}": text(v) for k, v in s.model_dump().items() if v is not None}


def bench_ses_drain(base: Settings, n: int, concurrency: int, procs: guard.Processes, tmp: str, env_of) -> float:
    """msg/s of a real worker sending `n` messages to moto's SES API, first to last."""
    import redis

    from bench.hotpath import WORKER_FLAGS, messages, scoped, wait_until
    from ses_ramp.producers import Producer

    s = scoped(base, "ses", transport="ses-api")
    p = Producer(s)
    p.enqueue_many(messages(n))
    p.close()
    client = redis.Redis.from_url(s.effective_redis_url)
    day = f"{s.key_prefix}:{{{s.key_prefix}}}:day"
    sent = lambda: int(client.hget(day, "sent") or 0)  # noqa: E731
    worker = procs.start([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk",
                          "-c", str(concurrency), *WORKER_FLAGS], env_of(s), f"{tmp}/ses.log")
    try:
        wait_until(lambda: sent() >= 1, 120, "the first SES send")
        t0 = time.perf_counter()
        wait_until(lambda: sent() >= n, 600, f"{n} SES sends")
        return (n - 1) / (time.perf_counter() - t0)
    finally:
        procs.stop(worker)
        client.close()


def bench_overshoot(base: Settings, moto, cap: int, workers: int, procs: guard.Processes, tmp: str, env_of) -> dict:
    """`workers` real worker processes race to send 10x the day's cap; count what SES received."""
    import email

    import redis

    from bench.hotpath import WORKER_FLAGS, messages, scoped, wait_until
    from ses_ramp.producers import Producer

    s = scoped(base, "ov", transport="ses-api", warmup_start_per_day=cap, warmup_target_per_day=50_000, rate_per_s=200, rate_burst=20)
    client = redis.Redis.from_url(s.effective_redis_url)
    p = Producer(s)
    mixed = [m if i % 5 else {**{k: v for k, v in m.items() if k != "list"}, "kind": "transactional"} for i, m in enumerate(messages(cap * 10))]
    ids = {r.id for r in p.enqueue_many(mixed)}
    p.close()
    started = [procs.start([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk", "-c", "1",
                            "-n", f"o{i}@bench", *WORKER_FLAGS], env_of(s), f"{tmp}/o{i}.log") for i in range(workers)]
    try:
        deferred = f"{s.key_prefix}:{{{s.key_prefix}}}:deferred"
        wait_until(lambda: client.zcard(deferred) >= cap * 9, 300, "the over-cap messages to be deferred", 0.05)
        sent = sum(1 for m in moto.sent_messages() if email.message_from_string(m.raw_data).get("X-Ses-Ramp-Id") in ids)
    finally:
        for proc in started:
            procs.stop(proc)
        client.close()
    return {"cap": cap, "sent": sent, "overshoot": sent - cap, "workers": workers}


def bench_simulate(days: int = 45) -> dict:
    """`ramp simulate --days 45` as an operator runs it: a process of its own on its own throw-away
    embedded Redis (never the bench's); wall time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "ramp"), "simulate", "--days", str(days), "--json"], env=env,
                          capture_output=True, text=True, check=True)
    rows = json.loads(done.stdout)
    reached = next((r["day"] for r in rows if r["sent"] >= 50_000), None)
    return {"days": days, "seconds": time.perf_counter() - started, "reached": reached, "sent": sum(r["sent"] for r in rows)}


def mb(x: float) -> str:
    return f"{x:,.1f} MB"


def run(args, url: str, procs: guard.Processes, tmp: str) -> list[tuple[str, str, str]]:
    from bench import hotpath, latency, memory

    moto = MotoSES().start(FROM, "ses-ramp")
    for name, value in moto.credentials_env().items():  # the workers this bench starts sign their calls with them
        os.environ.setdefault(name, value)
    base = Settings(_env_file=None, redis_url=url, key_prefix=guard.PREFIX, from_address=FROM, ses_endpoint_url=moto.endpoint_url,
                    warmup_start_per_day=10_000_000, warmup_target_per_day=10_000_000, hourly_burst_factor=24,
                    rate_per_s=1_000_000, rate_burst=1000, log_level="WARNING",
                    unsubscribe_base_url="https://bench.invalid", unsubscribe_secret="bench-secret-0123456789abcdef")
    env_of = lambda s: {**os.environ, **settings_env(s)}  # noqa: E731
    want = set(args.only or FIGURES)
    n, c, pairs = args.messages, args.concurrency, args.pairs
    rows: list[tuple[str, str, str]] = []
    try:
        if "enqueue" in want:
            e = hotpath.enqueue_one_by_one(base, args.enqueue_messages, pairs)
            rows.append(("enqueue one by one", f"{e.b_median:,.0f} msg/s",
                         f"{e.ratio_text()} of bare Celery send_task ({e.a_median:,.0f} msg/s); target >= 0.9x"))
        if "size" in want:
            from bench import size

            b, sp = size.bytes_per_message(base, args.size_messages, pairs)
            rows.append((f"Redis per queued {size.CONTENT_BYTES:,} B bulk msg", f"{b.b_median:,.0f} B",
                         f"zlib; uncompressed {b.a_median:,.0f} B ({1 / (b.b_median / b.a_median):.1f}x more); "
                         f"enqueue_many {sp.ratio_text()} of uncompressed speed"))
        if "campaign" in want:
            from bench import campaigns

            speed, sizes = campaigns.enqueue_pairs(base, args.campaign_recipients, pairs)
            rows.append(("Redis per queued campaign recipient", f"{sizes.b_median:,.0f} B",
                         f"same 3 KB content, plain message: {sizes.a_median:,.0f} B (zlib); goal <= 400 B"))
            rows.append((f"enqueue_campaign, {args.campaign_recipients:,} recipients", f"{speed.b_median:,.0f} rcpt/s",
                         f"{speed.ratio_text()} of enqueue_many of the same as plain messages ({speed.a_median:,.0f} msg/s)"))
            big = campaigns.million(base, args.million)
            whole = campaigns.million_plain(base, args.million)
            rows.append((f"enqueue_campaign, {big['n']:,} recipients", f"{big['seconds']:,.1f} s",
                         f"one run each; goal <= 60 s; enqueue_many of the same as whole messages: {whole['seconds']:,.1f} s"))
            rows.append((f"Redis for {big['n']:,} queued campaign recipients", mb(big["redis_mb"]),
                         f"used_memory after - before; goal <= 500 MB; as whole messages: {mb(whole['redis_mb'])}"))
            cd = campaigns.drain_pairs(base, n, c, pairs, procs, tmp, env_of)
            rows.append(("drain, campaign (feed + render + gate + noop)", f"{cd.b_median:,.0f} msg/s",
                         f"{cd.ratio_text()} of bare Celery with the rendered messages ({cd.a_median:,.0f} msg/s, prefork -c {c}, {n:,}); goal >= 0.9x"))
        if "known" in want:
            from bench import known as known_bench

            runs = known_bench.memory_runs(base, args.million)
            used_b, usage_b = sorted(r["used_b"] for r in runs), sorted(r["usage_b"] for r in runs)
            rows.append((f"Redis per known recipient ({args.million:,} digests)", f"{used_b[len(runs) // 2]:,.1f} B",
                         f"used_memory, {len(runs)} runs min {used_b[0]:,.1f} / max {used_b[-1]:,.1f} B; MEMORY USAGE of the hash "
                         f"{usage_b[len(runs) // 2]:,.1f} B: {used_b[len(runs) // 2]:,.0f} MB per million addresses"))
            lookups = sorted(r["lookup_per_s"] for r in runs)
            rows.append(("  known/new lookup at enqueue", f"{lookups[len(runs) // 2]:,.0f} rcpt/s",
                         f"HMGET in pieces of 50,000; min {lookups[0]:,.0f}, max {lookups[-1]:,.0f}"))
        if "gate" in want:
            g, gp, gs, fl, evalsha = hotpath.gate_vs_ping(base, args.gate_calls, pairs)
            rows.append(("gate, one client", f"{g.b_median:,.0f} /s", f"{g.ratio_text()} of PING ({g.a_median:,.0f} /s); target >= 0.8x"))
            rows.append(("gate with a provider budget, one client", f"{gp.b_median:,.0f} /s",
                         f"{gp.ratio_text()} of PING; {evalsha:.2f} EVALSHA per call (one round trip)"))
            rows.append(("gate + settle, one client", f"{gs.b_median:,.0f} /s", f"{gs.ratio_text()} of PING"))
            rows.append(("  floor: EVALSHA `return 1`", f"{fl.b_median:,.0f} /s", f"{fl.ratio_text()} of PING: any script call"))
        if "drain" in want:
            d = hotpath.drain_pairs(base, n, c, pairs, procs, tmp, env_of)
            p = d["paired"]
            cmds = {k: sorted(v)[len(v) // 2] for k, v in d["commands"].items()}
            rows.append(("drain, gate (with provider budgets) + noop transport", f"{p.b_median:,.0f} msg/s",
                         f"{p.ratio_text()} of bare Celery ({p.a_median:,.0f} msg/s, prefork -c {c}, {n:,} msgs, 5 providers); "
                         "target >= 0.95x (provider ramps: >= 0.9x)"))
            t = d["tuned"]
            rows.append(("  against Celery set up like ses-ramp", f"{t.b_median:,.0f} msg/s",
                         f"{t.ratio_text()} of Celery with ses-ramp's transport, exchange, queues and consumer "
                         f"({t.a_median:,.0f} msg/s): what the gate and settle cost"))
            rows.append(("Redis commands per message", f"{cmds['ramp']:.1f}",
                         f"bare Celery {cmds['bare']:.1f}, Celery set up like ses-ramp {cmds['tuned']:.1f} (median run, worker's whole drain)"))
        if "overflow" in want:
            from bench import overflow

            of = overflow.drain_pairs(base, n, c, pairs, procs, tmp, env_of)
            o = of.paired
            rows.append(("drain with the overflow route (9 in 10 by overflow)", f"{o.b_median:,.0f} msg/s",
                         f"{o.ratio_text()} of the drain without it ({o.a_median:,.0f} msg/s, prefork -c {c}, {n:,} msgs); "
                         "goal >= 1.0x: no worse"))
            rows.append(("  control: the drain without it against itself", f"{of.control.b_median:,.0f} msg/s",
                         f"{of.control.ratio_text()}: the noise floor of this machine"))
            rows.append(("  worker CPU per message, with overflow", f"{of.cpu_ms['two']:.2f} ms", of.cost_text()))
        if "ses" in want:
            ses = bench_ses_drain(base, n, c, procs, tmp, env_of)
            rows.append(("drain, gate + moto SES API", f"{ses:,.0f} msg/s", f"one run, {n:,} msgs, prefork -c {c}"))
        if "overshoot" in want:
            over = bench_overshoot(base, moto, 200, 4, procs, tmp, env_of)
            rows.append(("quota overshoot, 4 workers", f"{over['overshoot']}", f"must be 0: cap {over['cap']}, SES got {over['sent']} of {over['cap'] * 10} queued"))
        if "latency" in want:
            lat = latency.ramp_transactional(base, moto, args.backlog, args.probes, procs, tmp, env_of)
            fifo = latency.fifo_transactional(url, args.backlog, procs, tmp, dict(os.environ))
            rows.append(("transactional p99 behind bulk", f"{lat['p99_ms']:,.0f} ms",
                         f"p50 {lat['p50_ms']:,.0f} ms, max {lat['max_ms']:,.0f} ms, {lat['probes']} probes, {lat['backlog']:,} bulk queued, 14/s"))
            rows.append(("  same, plain FIFO Celery at 14/s", f"{fifo['waited_ms'] / 1000:,.1f} s",
                         f"measured: one FIFO consumer, token bucket 14/s, drained {fifo['rate_per_s']:.1f} msg/s first to last over {fifo['done']:,}"))
        if "memory" in want:
            m = memory.ramp_deferred(base, args.waiting, procs, tmp, env_of)
            eta = memory.celery_eta(url, args.waiting, procs, tmp, dict(os.environ))
            for name, x in ((f"{m['n']:,} deferred (ses-ramp)", m), (f"{eta['n']:,} Celery ETA tasks", eta)):
                rows.append((f"worker RSS, {name}", f"+{mb(x['rss_after_mb'] - x['rss_before_mb'])}",
                             f"{x['rss_before_mb']:.0f} -> {x['rss_after_mb']:.0f} MB"))
                rows.append((f"Redis used_memory, {name}", f"+{mb(x['redis_after_mb'] - x['redis_before_mb'])}",
                             f"{x['redis_before_mb']:.0f} -> {x['redis_after_mb']:.0f} MB"))
        if "http" in want:
            from bench.http import campaign_bytes, http_vs_in_process

            cb = campaign_bytes(base, env_of(base), tmp, args.http_campaign)
            rows.append((f"POST /v1/campaigns, {cb['n']:,} recipients (CSV upload)", f"{cb['http_b']:,.1f} B/rcpt",
                         f"enqueue_campaign of the same CSV: {cb['producer_b']:,.1f} B/rcpt (MEMORY USAGE of the list; used_memory "
                         f"{cb['http_used_b']:,.0f} vs {cb['producer_used_b']:,.0f} B); {cb['csv_mb']:.1f} MB CSV in "
                         f"{cb['http_s']:.1f} s over HTTP, {cb['producer_s']:.1f} s in-process (one run each)"))
            h = http_vs_in_process(base, env_of(base), tmp)
            rows.append(("POST /v1/messages (uvicorn), 100/batch", f"{h['http']['msg_per_s']:,.0f} msg/s",
                         f"p50 {h['http']['p50_ms']:.1f} ms, p99 {h['http']['p99_ms']:.1f} ms; in-process enqueue_many "
                         f"{h['local']['msg_per_s']:,.0f} msg/s ({h['rounds']} rounds ABBA)"))
        if "simulate" in want:
            sim = bench_simulate()
            rows.append((f"ramp simulate, {sim['days']} days", f"{sim['seconds']:.1f} s",
                         f"{sim['sent']:,} recipients through the real gate and events; 50,000/day on day {sim['reached']}"))
    finally:
        moto.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=FIGURES, help="run these figures alone")
    ap.add_argument("--db", type=int, default=15, help="the Redis database the bench works in (default 15)")
    ap.add_argument("--force", action="store_true", help="run even if the database holds keys the bench did not write")
    ap.add_argument("--pairs", type=int, default=7, help="ABBA pairs per comparison (at least 7 for the README's table)")
    ap.add_argument("--messages", type=int, default=3000, help="messages per drain")
    ap.add_argument("--enqueue-messages", type=int, default=2000)
    ap.add_argument("--gate-calls", type=int, default=20_000)
    ap.add_argument("--size-messages", type=int, default=2000, help="messages per run of the size figure")
    ap.add_argument("--campaign-recipients", type=int, default=5_000, help="recipients per run of the campaign enqueue pairs")
    ap.add_argument("--million", type=int, default=1_000_000, help="recipients of the one large campaign")
    ap.add_argument("--http-campaign", type=int, default=100_000, help="recipients of the campaign posted over HTTP")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--backlog", type=int, default=600, help="bulk queued ahead of the transactional probes (the FIFO must finish it)")
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--waiting", type=int, default=50_000, help="waiting messages on each side of the memory figure")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ses-ramp-bench-")
    url = os.environ.get("RAMP_REDIS_URL") or os.environ.get("REDIS_URL")
    server = None
    if not url:
        server = EmbeddedRedis(free_port(), f"{tmp}/redis", persist=False).start()
        url = server.url
    url = guard.with_db(url, args.db)
    procs = guard.Processes()
    try:
        with guard.owned(url, args.force, procs):
            rows = run(args, url, procs, tmp)
    except guard.Refused as exc:
        print(exc.code, file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted; everything it wrote was deleted", file=sys.stderr)
        sys.exit(130)
    finally:
        if server:
            server.stop()
    print(f"ses-ramp bench, {date.today()}, {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Redis {url.rsplit('@', 1)[-1]}")
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{width}} | {'value':>14} | note")
    print(f"|{'-' * (width + 2)}|{'-' * 16}|------")
    for name, value, note in rows:
        print(f"| {name:<{width}} | {value:>14} | {note}")


if __name__ == "__main__":
    main()
