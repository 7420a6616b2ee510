"""Prometheus counters of the send path, written by every pool process (prometheus-client multiprocess
mode). The state gauges, read from Redis at scrape time, and the scrape endpoint are `ops/exporter.py`.

`enable(settings)` must run before prometheus_client is imported anywhere in the process tree.
"""

from __future__ import annotations

import os
import tempfile

from ses_ramp.config import Settings

_enabled = False


def enable(settings: Settings) -> bool:
    """Called at the process edge (the Celery app module) when RAMP_METRICS_PORT is set."""
    global _enabled
    if settings.metrics_port is None:
        return False
    directory = settings.metrics_dir or tempfile.mkdtemp(prefix="ses-ramp-metrics-")
    os.makedirs(directory, exist_ok=True)
    # Written, never read back: prometheus-client (in this process and its forked pool children)
    # finds its multiprocess directory only there.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    # prometheus-client picks its value class when first imported, and a Celery CLI plugin (flower)
    # may already have imported it: pick again now that the multiprocess directory is known.
    import sys

    if "prometheus_client.values" in sys.modules:
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
    _enabled = True
    return True


def enabled() -> bool:
    return _enabled


_families: tuple | None = None


def _metric_families() -> tuple:
    """Created once per process tree: a forked pool child reuses the parent's objects, and
    prometheus-client's multiprocess values notice the new pid and write their own files."""
    global _families
    if _families is None:
        from prometheus_client import Counter, Histogram

        _families = (
            Counter("ses_ramp_messages_total", "Messages by kind and final outcome of a delivery.", ["kind", "outcome"]),
            Counter("ses_ramp_gate_decisions_total", "Budget gate decisions (provider: whose budget said wait, for `provider`).",
                    ["decision", "provider"]),
            Histogram("ses_ramp_ses_call_seconds", "Duration of one SES call (transport send).",
                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)),
        )
    return _families


class Metrics:
    """The counters the send path updates. A no-op unless metrics are enabled."""

    def __init__(self) -> None:
        self.on = _enabled
        if self.on:
            self.messages, self.gate, self.ses_seconds = _metric_families()

    def outcome(self, kind: str, outcome: str) -> None:
        if self.on:
            self.messages.labels(kind, outcome).inc()

    def decision(self, code, provider: str = "") -> None:
        """`code`: the gate's `Gate` member (named only when counting: this is the hot path)."""
        if self.on:
            self.gate.labels(code.name.lower(), provider).inc()

    def ses_call(self, seconds: float) -> None:
        if self.on:
            self.ses_seconds.observe(seconds)


def child_exited(pid: int) -> None:
    if _enabled:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
