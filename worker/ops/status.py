"""One dictionary with everything `ramp status` shows."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ses_ramp.config.keys import Keys
from ses_ramp.config.probe import PARKED, SAMPLING
from ses_ramp.config.provider_ramp import PROVIDERS
from ses_ramp.producers.campaigns import store
from ses_ramp.producers.queues import queue_depths
from ses_ramp.producers.redis_client import text_hash
from ses_ramp.producers.wire import QUEUES
from ses_ramp.worker.budget import cohorts, gmail_days
from ses_ramp.worker.fleet import probes
from ses_ramp.worker.ops import ses_warmup


def unacked(client, keys: Keys, now_s: float | None = None) -> dict[str, dict[str, float | int]]:
    """Messages a worker has taken and not yet acknowledged, per queue, with the oldest one's age.

    They sit in kombu's `unacked` hash while a worker holds them; a worker killed outright leaves
    them there until the visibility timeout puts them back on their queue."""
    now_s = time.time() if now_s is None else now_s
    out: dict[str, dict[str, float | int]] = {q: {"count": 0, "oldest_s": 0.0} for q in QUEUES}
    entries = list(client.hscan_iter(keys.unacked, count=1000))
    if not entries:
        return out
    with client.pipeline(transaction=False) as pipe:
        for tag, _ in entries:
            pipe.zscore(keys.unacked_index, tag)
        delivered = pipe.execute()
    for (_, raw), at in zip(entries, delivered):
        try:
            queue = json.loads(raw)[2]
        except (ValueError, IndexError, TypeError):
            queue = "unknown"
        slot = out.setdefault(queue, {"count": 0, "oldest_s": 0.0})
        slot["count"] = int(slot["count"]) + 1
        if at is not None:
            slot["oldest_s"] = max(float(slot["oldest_s"]), round(now_s - float(at), 1))
    return out


def collect(runtime, reasons: bool = True) -> dict[str, Any]:
    """Everything `ramp status` shows; `reasons`: also the deferred messages by reason (an HSCAN of up to 10,000
    payloads: for an operator's look, not for every metrics scrape)."""
    from ses_ramp.worker.guards.breaker import Breaker
    from ses_ramp.worker.guards.pause import flags
    from ses_ramp.worker.guards.probation import probation_since_ms

    k = runtime.budget.keys
    data: dict[str, Any] = runtime.budget.status()
    data["queues"] = queue_depths(runtime.client, runtime.settings.key_prefix)
    data["unacked"] = unacked(runtime.client, k)
    data.update(runtime.deferrals.counts())
    if reasons:
        data["deferred_by_reason"] = runtime.deferrals.by_reason()
    data.update(runtime.deferrals.dead_size(), dead_retention_days=runtime.settings.dead_retention_days)
    data["parked"] = {q: runtime.client.llen(k.parked(q)) for q in QUEUES}
    data["paused"] = flags(runtime.client, k)
    breaker = Breaker(runtime.settings, runtime).state()
    data["alarm_state"] = breaker.pop("alarm_state", None)
    data["breaker"] = breaker
    data["suppressed"] = runtime.client.scard(k.suppressed)
    from ses_ramp.worker.guards.events import EventStore

    data["events_watermark"] = EventStore(runtime.client, k).watermark()
    from datetime import date, timedelta

    today = date.fromisoformat(data["date"])
    data["send_days"] = {d.isoformat(): cohorts.read(runtime.client, k, d.isoformat()) for d in (today, today - timedelta(days=1))}
    data["providers"] = {d.isoformat(): cohorts.read_providers(runtime.client, k, d.isoformat()) for d in (today, today - timedelta(days=1))}
    data["overflow"] = overflow_figures(runtime.settings.overflow_configuration_set, data["date"],
                                        text_hash(runtime.client.hgetall(k.day)))
    data["ses_warmup"] = ses_warmup.load(runtime.client, k)
    data["outgoing_ips"] = outgoing_ips(runtime.client, k, [d.isoformat() for d in (today, today - timedelta(days=1))],
                                        data["ses_warmup"])
    data["postmaster"] = postmaster_figures(runtime.settings.postmaster_credentials is not None,
                                            text_hash(runtime.client.hgetall(k.gmail)),
                                            lambda day: cohorts.read_providers(runtime.client, k, day))
    last = runtime.client.lindex(k.history, 0)
    data["last_verdict"] = {f: json.loads(last).get(f) for f in ("date", "verdict", "why", "step_after")} if last else None
    data["bad_events"] = runtime.client.llen(k.bad_events)
    data["expire_ok_accepted"] = int(runtime.client.get(k.expire_ok) or 0)
    data["probes"] = probe_lines(runtime.client, k)
    since = probation_since_ms(runtime)
    data["probation"] = since is not None
    data["probation_since_ms"] = since
    return data


def probe_lines(client: Any, keys: Keys) -> list[dict[str, Any]]:
    """Each campaign whose probe is sampling or parked (released ones are just sending): id, state, line."""
    out = []
    for row in store.progress(client, keys):
        if row.get("probe") in (SAMPLING, PARKED):
            seen = probes.counts(client, keys, row["id"])
            out.append({"id": row["id"], "probe": row["probe"], "events": seen,
                        "line": probes.described(row, seen, client.llen(keys.campaign_sample(row["id"])))})
    return out


def overflow_figures(configuration_set: str | None, today: str, day: dict[str, str]) -> dict[str, Any]:
    """Today's sends by route, per mailbox provider too, and the dedicated IP's share of them."""
    current = day.get("date") == today

    def field(name: str) -> int:
        return int(day.get(name, 0)) if current else 0

    dedicated, overflow = field("sent"), field("ov_sent")
    return {
        "configuration_set": configuration_set, "enabled": configuration_set is not None,
        "dedicated_sent": dedicated, "overflow_sent": overflow, "overflow_used": field("ov_used"),
        "dedicated_share": round(dedicated / (dedicated + overflow), 4) if dedicated + overflow else None,
        "by_provider": {p: {"dedicated_used": field(f"used@{p}"), "overflow_used": field(f"ov_used@{p}")}
                        for p in PROVIDERS if field(f"used@{p}") or field(f"ov_used@{p}")},
    }


def postmaster_figures(enabled: bool, raw: dict[str, str], providers_on: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Gmail's Postmaster Tools figures per day they describe (the last week reported), beside ses-ramp's own
    google counts for that send day (`providers_on(day)`); the reader's last line. Missing figures are
    "no data", never zero."""
    days: dict[str, Any] = {}
    stored = gmail_days.reports(raw)
    week = set(sorted({r.on for r, _ in stored})[-7:])  # the last seven days reported
    for report, received_ms in stored:
        if report.on not in week:
            continue
        own = (providers_on(report.on.isoformat()) or {}).get("google") or {}
        days.setdefault(report.on.isoformat(), {})[report.domain] = {
            "spam_rate": report.spam_rate, "ip_reputation": report.ip_reputation, "domain_reputation": report.domain_reputation,
            "spammy_ids": list(report.spammy_ids), "received_ms": received_ms,
            "ses_ramp_google": {m: own.get(m, 0) for m in ("sends", "deliveries", "complaints")} if own else None}
    return {"enabled": enabled, "status": gmail_days.status(raw), "days": dict(sorted(days.items(), reverse=True))}


def routes_today(runtime: Any, today: str) -> dict[str, Any]:
    """`overflow_figures` of the day hash as it stands (`ramp forecast`)."""
    return overflow_figures(runtime.settings.overflow_configuration_set, today,
                            text_hash(runtime.client.hgetall(runtime.budget.keys.day)))


def outgoing_ips(client: Any, keys: Keys, days: list[str], warmup: dict[str, Any] | None) -> dict[str, Any]:
    """Deliveries per outgoing IP (SES's `ses:outgoing-ip`) of the dedicated route's mail, per send day;
    `outside_pool`: IPs that carried it but are not in the pool as SES last listed it (SES's own warm-up
    sends part of a warming IP's share over other IPs)."""
    pool_ips = {i["ip"] for i in (warmup or {}).get("ips", [])}
    out: dict[str, Any] = {}
    for day in days:
        ips = cohorts.ips_of(text_hash(client.hgetall(keys.sendday(day))))
        if ips:
            out[day] = {"deliveries": ips, "outside_pool": sorted(ip for ip in ips if pool_ips and ip not in pool_ips)}
    return out


def vdm_today(runtime) -> dict[str, Any]:
    """SES VDM's figures per ISP for today's send day so far (`ramp status --vdm`)."""
    from datetime import UTC, datetime

    from ses_ramp.worker.budget.store import day_window
    from ses_ramp.worker.ops.vdm import by_isp
    from ses_ramp.worker.send.transports.ses_api import ses_client

    now_ms = runtime.budget.now_ms()
    _, start_ms, _ = day_window(now_ms, runtime.settings.day_timezone)
    view = by_isp(ses_client(runtime.settings), datetime.fromtimestamp(start_ms / 1000, UTC), datetime.fromtimestamp(now_ms / 1000, UTC))
    return {"by_provider": view.by_provider, "problem": view.problem}


__all__ = ["collect", "queue_depths", "unacked", "vdm_today"]

