"""Prometheus metrics. Counters are written by every pool process (prometheus-client multiprocess
mode); state gauges (budget, queues, breaker, rates) are read from Redis at scrape time, so every
worker shows the fleet-wide truth without duplicating it.

`enable(settings)` must run before prometheus_client is imported anywhere in the process tree.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

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


class StateCollector:
    """Gauges read from Redis when Prometheus scrapes."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from ses_ramp.worker.ops.status import collect

        try:
            st = collect(self.runtime)
        except Exception:  # noqa: BLE001 - a scrape during a Redis outage reports nothing, not an error page
            return
        def gauge(name: str, doc: str, value: Any, labels: dict[str, str] | None = None):
            g = GaugeMetricFamily(name, doc, labels=list(labels or {}))
            if labels:
                g.add_metric(list(labels.values()), float(value))
            else:
                g.add_metric([], float(value))
            return g

        yield gauge("ses_ramp_cap", "Today's cap (recipients).", st["cap"])
        yield gauge("ses_ramp_used", "Recipients reserved today.", st["used"])
        yield gauge("ses_ramp_transactional_reserve_left", "Transactional reserve left today.", st["transactional_reserve_left"])
        yield gauge("ses_ramp_hour_allowance_left", "Pacing allowance left this hour.", st["hour_allowance_left"])
        yield gauge("ses_ramp_rate_per_second", "Current fleet-wide send rate.", st["rate_per_s"])
        yield gauge("ses_ramp_warmup_step", "Warm-up step.", st["step"])
        per = {name: GaugeMetricFamily(f"ses_ramp_provider_{name}", doc, labels=["provider"]) for name, doc in (
            ("step", "Warm-up step of each mailbox provider's own ramp."), ("cap", "Today's cap of each provider (recipients)."),
            ("used", "Recipients reserved today per provider."), ("rate_per_second", "Each provider's send rate."))}
        for p, row in (st.get("provider_ramps") or {}).items():
            for name, field in (("step", "step"), ("cap", "cap"), ("used", "used"), ("rate_per_second", "rate_per_s")):
                per[name].add_metric([p], float(row[field]))
        yield from per.values()
        depth = GaugeMetricFamily("ses_ramp_queue_depth", "Messages waiting in each queue.", labels=["kind"])
        for kind, n in st["queues"].items():
            depth.add_metric([kind], n)
        yield depth
        held = GaugeMetricFamily("ses_ramp_unacked", "Messages taken by a worker and not yet acknowledged.", labels=["kind"])
        held_age = GaugeMetricFamily("ses_ramp_unacked_oldest_seconds", "Age of the oldest unacknowledged message.", labels=["kind"])
        for kind, slot in st["unacked"].items():
            held.add_metric([kind], slot["count"])
            held_age.add_metric([kind], slot["oldest_s"])
        yield held
        yield held_age
        for name in ("deferred", "dead", "unconfirmed"):
            yield gauge(f"ses_ramp_{name}", f"Messages {name}.", st[name])
        yield gauge("ses_ramp_parked", "Messages parked by operators.", sum(st["parked"].values()))
        yield gauge("ses_ramp_breaker_state", "Breaker: 0 ok, 1 warn (bulk paused), 2 trip (all paused).",
                    {"ok": 0, "warn": 1, "trip": 2}.get(st["breaker"].get("level", "ok"), 0))
        rates = GaugeMetricFamily("ses_ramp_event_rate", "Rolling bounce and complaint rates.", labels=["metric", "window_s"])
        for window, r in st["breaker"]["windows"].items():
            rates.add_metric(["bounce", window], r["bounce_rate"])
            rates.add_metric(["complaint", window], r["complaint_rate"])
        yield rates
        ov = st.get("overflow") or {}
        sent = GaugeMetricFamily("ses_ramp_sent_today", "Recipients sent today, by route (dedicated IP or overflow).", labels=["route"])
        sent.add_metric(["dedicated"], float(ov.get("dedicated_sent", st["sent"])))
        sent.add_metric(["overflow"], float(ov.get("overflow_sent", 0)))
        yield sent
        per_route = GaugeMetricFamily("ses_ramp_provider_used_by_route", "Recipients reserved today per provider and route.",
                                      labels=["provider", "route"])
        for p, c in (ov.get("by_provider") or {}).items():
            per_route.add_metric([p, "dedicated"], float(c["dedicated_used"]))
            per_route.add_metric([p, "overflow"], float(c["overflow_used"]))
        yield per_route
        if ov.get("dedicated_share") is not None:
            yield gauge("ses_ramp_dedicated_share", "The dedicated IP's share of today's sends.", ov["dedicated_share"])
        for ip in (st.get("ses_warmup") or {}).get("ips", []):
            if ip.get("percentage") is not None:
                yield gauge("ses_ramp_ses_warmup_percentage", "SES's own warm-up percentage of each pool IP.", ip["percentage"],
                            {"ip": ip["ip"]})


def serve(settings: Settings, runtime, multiprocess_mode: bool = True) -> None:
    """Start the scrape endpoint on RAMP_METRICS_PORT (a daemon thread)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    if multiprocess_mode and _enabled:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    registry.register(StateCollector(runtime))
    assert settings.metrics_port is not None, "serve() is called only with RAMP_METRICS_PORT set"
    start_http_server(settings.metrics_port, registry=registry)


def child_exited(pid: int) -> None:
    if _enabled:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
