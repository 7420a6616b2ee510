"""The drain with the overflow route on against the drain without it, side by side (ABBA): the same
real worker, the same queued messages and the no-op transport. A: one route, a cap that takes them all.
B: RAMP_OVERFLOW_CONFIGURATION_SET set, a dedicated cap of a tenth of them and no wait, so nine in ten
are routed to overflow by the same single gate call. Timed from the first send to the last.

On a small machine a drain's rate moves by +-15% from run to run, so the figure comes with its control:
the same ABBA of A against A itself, whose spread is the noise floor. And with what each message cost,
which moves far less than a rate: the worker's CPU (main process and pool children, from /proc) and
Redis's own server time (INFO commandstats), per message, over the same first-to-last window."""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass

import redis

from bench.guard import Processes
from bench.hotpath import WORKER_FLAGS, first_to_last, messages, redis_usec, scoped, tree_cpu_s
from bench.pairs import Paired, abba
from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers import Producer


@dataclass
class Figure:
    paired: Paired  # A one route, B with overflow
    control: Paired  # A against A: the noise floor
    cpu_ms: dict[str, float]  # median worker CPU per message, by route setup
    redis_us: dict[str, float]  # median Redis server time per message

    def cost_text(self) -> str:
        return (f"median per message over the drain: overflow {self.cpu_ms['two']:.2f} ms of worker CPU and "
                f"{self.redis_us['two']:.0f} us of Redis; one route {self.cpu_ms['one']:.2f} ms and {self.redis_us['one']:.0f} us")


def drain_pairs(base: Settings, n: int, concurrency: int, pairs: int, procs: Processes, tmp: str, env_of) -> Figure:
    client = redis.Redis.from_url(base.effective_redis_url)
    costs: dict[str, list[tuple[float, ...]]] = {"one": [], "two": []}

    def drain(tag: str, route: str, **update) -> float:
        s = scoped(base, tag, transport="noop", **update)
        p = Producer(s)
        p.enqueue_many(messages(n))
        p.close()
        day = Keys(s.key_prefix).day

        def sent() -> int:
            done = client.hmget(day, "sent", "ov_sent")
            return sum(int(v or 0) for v in done)

        argv = [sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk",
                "-c", str(concurrency), *WORKER_FLAGS]
        return first_to_last(procs, argv, env_of(s), f"{tmp}/{s.key_prefix}.log", sent, n, tag,
                             spent=lambda pid: (tree_cpu_s(pid), redis_usec(client)), costs=costs[route])

    one_route = lambda: drain("o1", "one")  # noqa: E731
    two_routes = lambda: drain("o2", "two", overflow_configuration_set="ses-ramp-overflow", overflow_after_s="transactional=0,bulk=0",  # noqa: E731
                               warmup_start_per_day=max(1, n // 10), warmup_target_per_day=max(1, n // 10) * 2)
    paired = abba(one_route, two_routes, pairs)
    control = abba(one_route, one_route, pairs)  # its drains add to the one-route costs too
    client.close()
    med = {k: (statistics.median(c[0] for c in v), statistics.median(c[1] for c in v)) for k, v in costs.items()}
    return Figure(paired, control, {k: m[0] * 1000 for k, m in med.items()}, {k: m[1] for k, m in med.items()})
