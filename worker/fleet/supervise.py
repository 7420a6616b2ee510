"""`ramp worker`'s supervisor: one Celery worker child, restarted if it dies on its own.

Why keep it when compose restarts containers: Celery can exit on an "Unrecoverable error" after a
broker outage (a kombu race while closing the lost connection), and a host running `ramp worker`
outside a container should not lose a worker to it. Nothing is lost when it happens (unacknowledged
messages are redelivered after the visibility timeout).

Signals are handled at every point: SIGTERM/SIGINT set a flag and are passed on to a running child;
one that arrives while no child runs (during the restart back-off, or between starting a child and
knowing it) is honoured too: the back-off ends at once, and a child started just then gets the signal.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger(logger_name="ses_ramp.supervise")


class Supervisor:
    def __init__(self, cmd: list[str], env: Mapping[str, str] | None = None, max_restarts_per_hour: int = 30) -> None:
        self.cmd = cmd
        self.env = dict(env) if env is not None else None
        self.max_restarts_per_hour = max_restarts_per_hour
        self.stopping = threading.Event()
        self.signum: int | None = None
        self.child: subprocess.Popen | None = None

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.signum = signum
        self.stopping.set()
        self._forward()

    def _forward(self) -> None:
        child = self.child
        if child is not None and child.poll() is None and self.signum is not None:
            child.send_signal(self.signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        restarts: list[float] = []
        code = 0
        while not self.stopping.is_set():
            self.child = subprocess.Popen(self.cmd, env=self.env)
            if self.stopping.is_set():  # a signal came while the child was starting: pass it on now
                self._forward()
            code = self.child.wait()
            if self.stopping.is_set():
                return code
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < 3600] + [now]
            if len(restarts) > self.max_restarts_per_hour:
                log.error("worker_restart_limit", exit_code=code, restarts_last_hour=len(restarts))
                return code or 1
            log.error("worker_died_restarting", exit_code=code, restart=len(restarts))
            if self.stopping.wait(min(10.0, 0.5 * len(restarts))):
                break  # stopped during the back-off: no new child
        return code


def supervise_worker(cmd: list[str], env: Mapping[str, str] | None = None, max_restarts_per_hour: int = 30) -> int:
    return Supervisor(cmd, env, max_restarts_per_hour).run()


def default_node_name(host: str | None = None) -> str:
    """`ramp-<6 hex>@<host>`: unique per process, so several `ramp worker`s on one host never
    share a Celery node name (remote control and `celery inspect` tell them apart)."""
    import socket
    import uuid

    return f"ramp-{uuid.uuid4().hex[:6]}@{host or socket.gethostname()}"

