"""`ramp worker`'s supervisor: one Celery worker child, restarted if it dies on its own.

Celery can exit on an "Unrecoverable error" after a broker outage (a kombu race while closing the
lost connection). Nothing is lost when it does (unacknowledged messages are redelivered after the
visibility timeout), but a fleet should not shrink because of it. SIGTERM/SIGINT are passed on for
a warm shutdown and end supervision.
"""

from __future__ import annotations

import signal
import subprocess
import time

import structlog

log = structlog.get_logger(logger_name="ses_ramp.supervise")


def supervise_worker(cmd: list[str], max_restarts_per_hour: int = 30) -> int:
    stopping = False
    child: subprocess.Popen | None = None

    def forward(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    restarts: list[float] = []
    while True:
        child = subprocess.Popen(cmd)
        code = child.wait()
        if stopping:
            return code
        now = time.monotonic()
        restarts = [t for t in restarts if now - t < 3600] + [now]
        if len(restarts) > max_restarts_per_hour:
            log.error("worker_restart_limit", exit_code=code, restarts_last_hour=len(restarts))
            return code or 1
        log.error("worker_died_restarting", exit_code=code)
        time.sleep(min(10.0, 0.5 * len(restarts)))
