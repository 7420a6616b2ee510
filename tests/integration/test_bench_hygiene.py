"""`python -m bench` works in its own database and key prefix, refuses one holding keys it did not
write, and leaves nothing behind: after a normal run and after Ctrl-C in the middle of a drain."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import redis

from bench.guard import PREFIX, with_db
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
DB = 13


def bench(url: str, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    env["REDIS_URL"] = url
    return subprocess.Popen([sys.executable, "-m", "bench", "--db", str(DB), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def bench_workers() -> list[psutil.Process]:
    """Celery workers started by a bench (their environment names the bench's prefix)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "celery" in " ".join(proc.info["cmdline"] or []):
                env = proc.environ()
                if env.get("BENCH_PREFIX", "").startswith(PREFIX) or env.get("RAMP_KEY_PREFIX", "").startswith(PREFIX):
                    found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_refuses_a_database_holding_keys_it_did_not_write(redis_url):
    client = redis.Redis.from_url(with_db(redis_url, DB))
    client.flushdb()
    client.set("someone-elses-key", "1")
    try:
        done = bench(redis_url, "--only", "gate", "--pairs", "1", "--gate-calls", "10")
        out, err = done.communicate(timeout=120)
        assert done.returncode == 2
        assert "refusing" in err and "1 key(s) the bench did not write" in err and "--force" in err
        assert client.keys("*") == [b"someone-elses-key"]  # nothing written, nothing deleted
    finally:
        client.flushdb()


def test_a_run_leaves_nothing_behind(redis_url):
    client = redis.Redis.from_url(with_db(redis_url, DB))
    client.flushdb()
    done = bench(redis_url, "--only", "enqueue", "gate", "--pairs", "1", "--gate-calls", "200", "--enqueue-messages", "50")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    assert "| enqueue one by one" in out and "| gate, one client" in out
    assert client.dbsize() == 0


def test_ctrl_c_mid_drain_stops_its_workers_and_deletes_what_it_wrote(redis_url):
    client = redis.Redis.from_url(with_db(redis_url, DB))
    client.flushdb()
    run = bench(redis_url, "--only", "drain", "--pairs", "7", "--messages", "3000")
    try:
        # Its workers are up and its queues full: the middle of a drain.
        wait_for(lambda: client.dbsize() > 0 and bench_workers(), 120, 0.1, "the bench's first drain to start")
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, err
    assert "interrupted" in err
    assert client.dbsize() == 0
    wait_for(lambda: not bench_workers(), 30, 0.2, "the bench's workers to be gone")
