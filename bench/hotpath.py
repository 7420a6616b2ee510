"""The hot path, each figure side by side with its baseline on the same Redis in the same run:
one-by-one enqueue against bare `send_task`, the gate against PING from one client, a real worker's
drain against bare Celery's, and the Redis commands each spends per message."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable

import redis

from bench.bare_app import make_app
from bench.guard import PREFIX, Processes
from bench.pairs import Paired, abba
from ses_ramp.config import Settings
from ses_ramp.producers import Producer

WORKER_FLAGS = ["--without-gossip", "--without-mingle", "-l", "WARNING"]


#: The recipients' domains, one per mailbox provider in turn: every message is charged to its provider's budget.
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "example.com")


def messages(n: int, kind: str = "bulk", tag: str = "u") -> list[dict]:
    return [{"to": [f"{tag}{i}@{DOMAINS[i % len(DOMAINS)]}"], "subject": f"bench {i}", "text": "hello", "kind": kind,
             **({"list": "news"} if kind == "bulk" else {})} for i in range(n)]


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.005) -> None:
    """Poll a condition that can be false; fail naming it after `timeout_s`."""
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"bench: timed out waiting for {what}")
        time.sleep(interval_s)


def first_to_last(procs: Processes, argv: list[str], env: dict, log: str, read, n: int, name: str,
                  spent: Callable[[int], tuple[float, ...]] | None = None, costs: list | None = None) -> float:
    """Start a worker and time its drain from the first of `n` messages to the last (`read` counts them):
    msg/s, with neither start-up nor publishing timed. The worker is stopped whatever happens.
    `spent(pid)`: cumulative costs (CPU seconds, server microseconds...) read at the first and the last
    message; their differences per message are appended to `costs`."""
    worker = procs.start(argv, env, log)
    try:
        wait_until(lambda: read() >= 1, 120, f"{name}: the first message")
        t0, before = time.perf_counter(), spent(worker.pid) if spent else ()
        wait_until(lambda: read() >= n, 300, f"{name}: all {n} messages")
        rate = (n - 1) / (time.perf_counter() - t0)
        if spent and costs is not None:
            costs.append(tuple((b - a) / (n - 1) for a, b in zip(before, spent(worker.pid))))
        return rate
    finally:
        procs.stop(worker)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and every live descendant (Linux /proc):
    a prefork worker's main process and its pool children."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, total, grew = {pid}, 0.0, True
    while grew:
        more = {p for p, (ppid, _) in stats.items() if ppid in tree and p not in tree}
        tree |= more
        grew = bool(more)
    for p in tree:
        total += stats.get(p, (0, 0.0))[1]
    return total


def redis_usec(client: redis.Redis) -> float:
    """Microseconds of server time Redis has spent on commands so far (INFO commandstats, scripts' own
    commands included)."""
    return float(sum(v.get("usec", 0) for v in client.info("commandstats").values()))


def commands_total(client: redis.Redis) -> int:
    """Every command Redis has executed (commands run inside Lua scripts included)."""
    return sum(v.get("calls", 0) for v in client.info("commandstats").values())


def scoped(base: Settings, tag: str, **update) -> Settings:
    return base.model_copy(update={"key_prefix": f"{PREFIX}-{tag}{uuid.uuid4().hex[:6]}", **update})


def enqueue_one_by_one(base: Settings, m: int, pairs: int) -> Paired:
    """msg/s of `m` one-by-one `send_task` calls of bare Celery (A) and of ses-ramp's `enqueue` (B)."""
    def bare() -> float:
        app = make_app(base.effective_redis_url, f"{PREFIX}:bare{uuid.uuid4().hex[:6]}")
        payloads = messages(m)
        t0 = time.perf_counter()
        for payload in payloads:
            app.send_task("bench.noop", args=[payload])
        rate = m / (time.perf_counter() - t0)
        app.close()
        return rate

    def ramp() -> float:
        p = Producer(scoped(base, "eq"))
        payloads = messages(m)
        t0 = time.perf_counter()
        for payload in payloads:
            p.enqueue(payload)
        rate = m / (time.perf_counter() - t0)
        p.close()
        return rate

    bare(), ramp()  # warm both (imports, connections) before anything is timed
    return abba(bare, ramp, pairs)


def gate_vs_ping(base: Settings, k: int, pairs: int) -> tuple[Paired, Paired, Paired, Paired, float]:
    """Calls/s from one client: PING (A) against the gate alone, against the gate charging a provider's
    budget too, against gate + settle, and against the cheapest script call there is (EVALSHA of
    `return 1`): the floor any Lua gate starts from. Also the EVALSHA calls Redis counted per gate call
    with a provider budget (its round trips: the gate is one script call)."""
    from ses_ramp.worker.budget.store import Gate
    from ses_ramp.worker.send.runtime import Runtime
    from ses_ramp.worker.send.transports.noop import NoopTransport

    rt = Runtime.build(scoped(base, "gp"), transport=NoopTransport())
    rt.budget.roll_day()
    client, budget = rt.client, rt.budget

    def ping() -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            client.ping()
        return k / (time.perf_counter() - t0)

    def gate(settle: bool, providers: str = "") -> float:
        tag = uuid.uuid4().hex[:8]
        t0 = time.perf_counter()
        for i in range(k):
            d = budget.gate("bulk", 1, f"{tag}{i}", "t", providers)
            if d.code != Gate.GO:
                raise RuntimeError(f"bench: the gate said {d.code.name}: the bench's budget must not stop it")
            if settle:
                budget.settle("sent", "bulk", 1, d.detail, f"{tag}{i}", "x", "t")
        return k / (time.perf_counter() - t0)

    trivial = client.register_script("return 1")

    def floor() -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            trivial()
        return k / (time.perf_counter() - t0)

    def evalsha_calls() -> int:
        return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))

    ping(), gate(True), floor()  # warm
    before = evalsha_calls()
    gate(False, "google=1")
    per_call = (evalsha_calls() - before) / k
    return (abba(ping, lambda: gate(False), pairs), abba(ping, lambda: gate(False, "google=1"), pairs),
            abba(ping, lambda: gate(True), pairs), abba(ping, floor, pairs), per_call)


def drain_pairs(base: Settings, n: int, concurrency: int, pairs: int, procs: Processes, tmp: str, env_of) -> dict:
    """msg/s of a real worker draining `n` queued messages: ses-ramp's worker with the gate and the no-op
    transport (B) against two baselines (A), each in its own ABBA: stock Celery's noop task as a user would
    run it (same broker, pool and safety options), and Celery set up like ses-ramp (`tuned_app.py`: its
    transport, exchange, queues and consumer, ses-ramp's messages), so that the gate and settle are the
    difference. Timed from the first to the last message (queued before the worker starts, so neither
    publishing nor start-up is timed); Redis commands per message over the whole run."""
    url = base.effective_redis_url
    client = redis.Redis.from_url(url)
    per_message: dict[str, list[float]] = {"bare": [], "tuned": [], "ramp": []}

    def timed(read, argv: list[str], env: dict, name: str) -> float:
        polls = [0]

        def counted() -> int:
            polls[0] += 1  # the bench's own reads are Redis commands too: counted, then taken out
            return read()

        before = commands_total(client)
        worker = procs.start(argv, env, f"{tmp}/{name}.log")
        try:
            wait_until(lambda: counted() >= 1, 120, f"{name}: the first message")
            t0 = time.perf_counter()
            wait_until(lambda: counted() >= n, 300, f"{name}: all {n} messages")
            rate = (n - 1) / (time.perf_counter() - t0)
            spent = commands_total(client) - before - polls[0] - 1  # - the INFO that took `before`
            per_message[name.split("-", 1)[0]].append(spent / n)
            return rate
        finally:
            procs.stop(worker)

    def bare() -> float:
        prefix = f"{PREFIX}:bare{uuid.uuid4().hex[:6]}"
        app = make_app(url, prefix)
        with app.producer_or_acquire() as producer:
            for payload in messages(n):
                app.send_task("bench.noop", args=[payload], producer=producer)
        app.close()
        env = {**env_of(base), "BENCH_BROKER": url, "BENCH_PREFIX": prefix}
        return timed(lambda: int(client.get(f"{prefix}:done") or 0),
                     [sys.executable, "-m", "celery", "-A", "bench.bare_app", "worker", "-c", str(concurrency), *WORKER_FLAGS],
                     env, f"bare-{prefix[-6:]}")

    def tuned() -> float:
        s = scoped(base, "tu")
        p = Producer(s)
        p.enqueue_many(messages(n))  # the same messages as ses-ramp's, queued the same way
        p.close()
        done = f"{s.key_prefix}:done"
        return timed(lambda: int(client.get(done) or 0),
                     [sys.executable, "-m", "celery", "-A", "bench.tuned_app", "worker", "-Q", "transactional,bulk",
                      "-c", str(concurrency), *WORKER_FLAGS], {**env_of(s), "BENCH_DONE_KEY": done}, f"tuned-{s.key_prefix}")

    def ramp() -> float:
        s = scoped(base, "dr", transport="noop")
        p = Producer(s)
        p.enqueue_many(messages(n))
        p.close()
        day = f"{s.key_prefix}:{{{s.key_prefix}}}:day"
        return timed(lambda: int(client.hget(day, "sent") or 0),
                     [sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk",
                      "-c", str(concurrency), *WORKER_FLAGS], env_of(s), f"ramp-{s.key_prefix}")

    paired = abba(bare, ramp, pairs)
    like = abba(tuned, ramp, pairs)
    client.close()
    return {"paired": paired, "tuned": like, "commands": per_message}
