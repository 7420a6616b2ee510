"""The drain with the overflow route on against the drain without it, side by side (ABBA): the same
real worker, the same queued messages and the no-op transport. A: one route, a cap that takes them all.
B: RAMP_OVERFLOW_CONFIGURATION_SET set, a dedicated cap of a tenth of them and no wait, so nine in ten
are routed to overflow by the same single gate call. Timed from the first send to the last."""

from __future__ import annotations

import sys

import redis

from bench.guard import Processes
from bench.hotpath import WORKER_FLAGS, first_to_last, messages, scoped
from bench.pairs import Paired, abba
from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers import Producer


def drain_pairs(base: Settings, n: int, concurrency: int, pairs: int, procs: Processes, tmp: str, env_of) -> Paired:
    client = redis.Redis.from_url(base.effective_redis_url)

    def drain(tag: str, **update) -> float:
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
        return first_to_last(procs, argv, env_of(s), f"{tmp}/{s.key_prefix}.log", sent, n, tag)

    one_route = lambda: drain("o1")  # noqa: E731
    two_routes = lambda: drain("o2", overflow_configuration_set="ses-ramp-overflow", overflow_after_s="transactional=0,bulk=0",  # noqa: E731
                               warmup_start_per_day=max(1, n // 10), warmup_target_per_day=max(1, n // 10) * 2)
    paired = abba(one_route, two_routes, pairs)
    client.close()
    return paired
