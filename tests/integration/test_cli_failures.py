"""Failures an operator meets first, through the real `ramp` binary at 80 columns: one line that
says what is wrong, quickly, and never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port
from tests.helpers import wait_for

RAMP = str(Path(sys.executable).parent / "ramp")


def run(env_extra: dict[str, str], *args: str, timeout_s: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")} | {"COLUMNS": "80"} | env_extra
    started = time.monotonic()
    done = subprocess.run([RAMP, *args], env=env, capture_output=True, text=True, timeout=timeout_s)
    return done, time.monotonic() - started


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["status"], ["pause", "bulk", "--reason", "x"], ["dead", "list"], ["simulate", "--days", "1"]])
def test_unreachable_redis_is_reported_within_2_s(command):
    done, took_s = run({"RAMP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, *command)
    line = one_line_error(done)
    assert "unreachable" in line and "Connection refused" in line
    assert took_s < 2.0, f"{took_s:.2f} s"


def test_enqueue_with_redis_down_is_reported_within_2_s(tmp_path):
    f = tmp_path / "m.json"
    f.write_text('{"to": ["a@example.com"], "from": "s@example.com", "subject": "hi", "text": "x"}')
    done, took_s = run({"RAMP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, "enqueue", str(f))
    assert "unreachable" in one_line_error(done) and took_s < 2.0, f"{took_s:.2f} s"


def test_wrong_password_is_reported_at_once(tmp_path):
    server = EmbeddedRedis(free_port(), tmp_path / "r", persist=False, password="right-one").start()
    try:
        done, took_s = run({"RAMP_REDIS_URL": f"redis://:wrong-one@127.0.0.1:{server.port}/0"}, "status")
        line = one_line_error(done)
        assert "refused the credentials" in line and "wrong-one" not in line
        assert took_s < 2.0, f"{took_s:.2f} s"
    finally:
        server.stop()


def test_tls_against_a_plain_text_redis_names_the_likely_cause_within_5_s(redis_url):
    plain = redis.Redis.from_url(redis_url)
    port = plain.connection_pool.connection_kwargs["port"]
    done, took_s = run({"RAMP_REDIS_URL": f"rediss://127.0.0.1:{port}/0"}, "status")
    line = one_line_error(done)
    assert "TLS handshake" in line and "plain-text" in line
    assert took_s < 5.0, f"{took_s:.2f} s"


@pytest.mark.parametrize("command", [["status"], ["worker"], ["pause", "bulk", "--reason", "x"]])
def test_no_redis_url_refuses_instead_of_starting_an_embedded_one(command, tmp_path):
    port = free_port()
    done, _ = run({"RAMP_EMBEDDED_REDIS_PORT": str(port), "RAMP_EMBEDDED_REDIS_DIR": str(tmp_path)}, *command)
    assert "RAMP_REDIS_URL is not set" in one_line_error(done) and "--embedded" in done.stderr
    assert not EmbeddedRedis(port, tmp_path).ping(), "no redis-server was started behind the operator's back"


def test_embedded_is_explicit_and_says_so(tmp_path):
    port = free_port()
    env = {"RAMP_EMBEDDED_REDIS_PORT": str(port), "RAMP_EMBEDDED_REDIS_DIR": str(tmp_path)}
    try:
        done, _ = run(env, "--embedded", "status")
        assert done.returncode == 0, done.stderr
        assert f"using the embedded redis-server at redis://127.0.0.1:{port}/0 (started now" in done.stderr
        again, _ = run(env, "--embedded", "status")
        assert again.returncode == 0 and "started now" not in again.stderr
    finally:
        redis.Redis(port=port).shutdown(nosave=True)


def seconds_to_stop(proc: subprocess.Popen) -> float:
    """SIGTERM `proc` and return how long it took to exit (at most 30 s, else it is killed)."""
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return time.monotonic() - started


def _supervisor(tmp_path: Path, child: str) -> subprocess.Popen:
    code = ("import sys; from ses_ramp.worker.fleet.supervise import supervise_worker; "
            f"sys.exit(supervise_worker([sys.executable, '-c', {child!r}]))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=open(tmp_path / "sup.log", "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_supervisor_stops_at_once_when_sigterm_lands_in_its_restart_back_off(tmp_path):
    sup = _supervisor(tmp_path, "import sys; sys.exit(3)")  # a worker that keeps dying: the supervisor is in back-off
    wait_for(lambda: (tmp_path / "sup.log").read_text().count("worker_died_restarting") >= 3, 30, what="three restarts")
    assert seconds_to_stop(sup) < 1.0


def test_supervisor_passes_sigterm_to_a_running_worker_and_returns_its_code(tmp_path):
    child = ("import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(7)); "
             "print('ready', flush=True); time.sleep(60)")
    sup = _supervisor(tmp_path, child)
    wait_for(lambda: "ready" in (tmp_path / "sup.log").read_text(), 30, what="the child to start")
    assert seconds_to_stop(sup) < 10.0 and sup.returncode == 7


def test_worker_refuses_to_start_on_a_misconfigured_redis_with_one_line(redis_url):
    port = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs["port"]
    done, took_s = run({"RAMP_REDIS_URL": f"rediss://127.0.0.1:{port}/0"}, "worker", timeout_s=60)
    assert "plain-text" in one_line_error(done) and took_s < 5.0, f"{took_s:.2f} s"


def test_worker_waiting_on_a_lost_redis_stops_within_10_s_of_sigterm(tmp_path):
    server = EmbeddedRedis(free_port(), tmp_path / "r", persist=False).start()
    log = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")} | {"RAMP_REDIS_URL": server.url, "RAMP_FROM_ADDRESS": "a@example.com",
                                                                             "RAMP_TRANSPORT": "noop"}  # no SES to reach here
    worker = subprocess.Popen([RAMP, "worker", "-c", "2"], env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "ready." in log.read_text(), 60, 0.1, "the worker to be ready")
        server.stop()
        wait_for(lambda: "Connection to broker lost" in log.read_text() or "Cannot connect" in log.read_text(), 60, 0.1,
                 "the worker to notice Redis is gone")
        assert seconds_to_stop(worker) < 10.0
    finally:
        server.stop()


@pytest.mark.parametrize("name, value", [("RAMP_PROVIDER_DOMAINS", "notjson"), ("RAMP_REDIS_URL", "redis://u:pw@host:notaport/0")])
def test_an_unparsable_setting_is_one_line_not_a_traceback(name, value):
    done, _ = run({name: value}, "status")
    line = one_line_error(done)
    assert name in line and "pw@" not in line
