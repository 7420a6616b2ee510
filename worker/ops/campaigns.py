"""Operator controls of campaigns: list them, cancel one (its recipients not yet fed are dropped), release
one whose probe holds its new recipients (`fleet/probes.py`)."""

from __future__ import annotations

from typing import Any

from ses_ramp.producers.campaigns import store
from ses_ramp.worker.fleet import probes
from ses_ramp.worker.guards import pause

NoSuchCampaign = store.NoSuchCampaign


def listing(runtime) -> list[dict[str, Any]]:
    """Each campaign still sending, with its pause when it has one (a spammy Feedback-ID, or an operator's):
    `paused` = {by, reason, at_ms}; `ramp resume campaign:<id>` lifts it. A probed campaign has `probe_line`
    (what its probe says) and `probe_events` (its sample's SES events)."""
    client, k = runtime.client, runtime.budget.keys
    rows = store.progress(client, k)
    flags = pause.flags(client, k)
    out = []
    for r in rows:
        row = {**r, **({"paused": flags[f"campaign:{r['id']}"]} if f"campaign:{r['id']}" in flags else {})}
        if r.get("probe"):
            seen = probes.counts(client, k, r["id"])
            row.update(probe_events=seen, probe_line=probes.described(r, seen, client.llen(k.campaign_sample(r["id"]))))
        out.append(row)
    return out


def release(runtime, campaign_id: str, by: str) -> int:
    """`ramp campaigns release`: a probed campaign's held recipients go out. Raises NoSuchCampaign."""
    try:
        return probes.release(runtime.client, runtime.budget.keys, campaign_id, by, runtime.budget.now_ms())
    except probes.NotHeld:
        raise NoSuchCampaign(campaign_id) from None


def cancel(runtime, campaign_id: str) -> dict[str, int]:
    """`ramp campaigns cancel` (`store.cancel`). Raises NoSuchCampaign."""
    try:
        return store.cancel(runtime.client, runtime.budget.keys, campaign_id, 2 * runtime.settings.visibility_timeout_s * 1000)
    except store.NoSuchCampaign:
        raise NoSuchCampaign(campaign_id) from None
