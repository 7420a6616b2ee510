"""The Prometheus scrape endpoint: the send path's counters (`send/metrics.py`, multiprocess mode) and
state gauges (budget, queues, breaker, rates) read from Redis at scrape time by `ops.status.collect`,
so every worker shows the fleet-wide truth without duplicating it."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily

from ses_ramp.config import Settings
from ses_ramp.worker.ops.status import collect
from ses_ramp.worker.send import metrics


class StateCollector:
    """Gauges read from Redis when Prometheus scrapes."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def collect(self):
        try:
            st = collect(self.runtime, reasons=False)  # a scrape every few seconds: no payload scan
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
        latest: dict[str, tuple[str, dict[str, Any]]] = {}
        for day, domains in (st.get("postmaster") or {}).get("days", {}).items():
            for domain, f in domains.items():
                if f["spam_rate"] is not None and (domain not in latest or day > latest[domain][0]):
                    latest[domain] = (day, f)
        gmail = GaugeMetricFamily("ses_ramp_gmail_spam_rate", "Gmail's user-reported spam rate (Postmaster Tools), newest day reported.",
                                  labels=["domain", "day"])
        for domain, (day, f) in latest.items():
            gmail.add_metric([domain, day], float(f["spam_rate"]))
        yield gmail
        for ip in (st.get("ses_warmup") or {}).get("ips", []):
            if ip.get("percentage") is not None:
                yield gauge("ses_ramp_ses_warmup_percentage", "SES's own warm-up percentage of each pool IP.", ip["percentage"],
                            {"ip": ip["ip"]})


def serve(settings: Settings, runtime, multiprocess_mode: bool = True) -> None:
    """Start the scrape endpoint on RAMP_METRICS_PORT (a daemon thread)."""
    registry = CollectorRegistry()
    if multiprocess_mode and metrics.enabled():
        multiprocess.MultiProcessCollector(registry)
    registry.register(StateCollector(runtime))
    assert settings.metrics_port is not None, "serve() is called only with RAMP_METRICS_PORT set"
    start_http_server(settings.metrics_port, registry=registry)
