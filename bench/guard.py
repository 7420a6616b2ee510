"""The bench's own corner of a Redis, and nothing left behind.

Every key the bench writes starts with `PREFIX` (ses-ramp's key prefix, kombu's `global_keyprefix` of
the bare and FIFO Celery apps), in a database of its own (`--db`, 15 by default). It refuses a
database that holds any key it did not write, unless `--force`; at the end, also on Ctrl-C, SIGTERM
or a failure, it stops every process it started and deletes every key under `PREFIX`, then checks
that the database holds what it held before.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import redis

from ses_ramp.worker.ops.embedded import stop_process_group

PREFIX = "srbench"


class Refused(SystemExit):
    pass


def with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


class Processes:
    """Every process the bench starts, so that any exit stops them."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], env: dict, log: str) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        stop_process_group(proc)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                stop_process_group(proc)


def bench_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(f"{PREFIX}*", count=5000))


def delete_bench_keys(client: redis.Redis) -> int:
    keys = bench_keys(client)
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i : i + 1000])
    return len(keys)


@contextmanager
def owned(url: str, force: bool, processes: Processes) -> Iterator[redis.Redis]:
    """Check the database, run the body, then clean up whatever happens."""
    client = redis.Redis.from_url(url)
    held = client.dbsize()
    foreign = held - len(bench_keys(client))
    if foreign and not force:
        raise Refused(f"bench: refusing {url}: it holds {foreign} key(s) the bench did not write "
                      "(point it at an empty database with --db, or pass --force)")
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        yield client
    finally:
        signal.signal(signal.SIGTERM, previous)
        processes.stop_all()
        deleted = delete_bench_keys(client)
        left = client.dbsize() - foreign
        print(f"bench: deleted {deleted:,} key(s) it wrote; {left} bench key(s) left in {url}", file=sys.stderr)
        client.close()
