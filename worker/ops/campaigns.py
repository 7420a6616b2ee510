"""Operator controls of campaigns: list them, cancel one (its recipients not yet fed are dropped), release
one whose probe holds its new recipients (`fleet/probes.py`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ses_ramp.producers.campaigns import store
from ses_ramp.producers.campaigns.recipients import unpack
from ses_ramp.producers.message import Kind
from ses_ramp.producers.redis_client import text_hash
from ses_ramp.producers.wire import priority_for
from ses_ramp.worker.fleet import probes
from ses_ramp.worker.fleet.feeder import LOCK_S
from ses_ramp.worker.guards import pause


class NoSuchCampaign(LookupError):
    pass


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
    """Drop the campaign's recipients not yet fed, counted as settled (and released from the content);
    those already fed go on (pause bulk first to stop them too). Holds the feeder's lock, so no feed
    runs half-way through. Returns {"dropped": n, "in_flight": m}."""
    client, k = runtime.client, runtime.budget.keys
    grace_ms = 2 * runtime.settings.visibility_timeout_s * 1000
    with client.lock(k.lock(f"feed:{campaign_id}"), timeout=LOCK_S, blocking_timeout=LOCK_S):
        meta = text_hash(client.hgetall(k.campaign(campaign_id)))
        if not meta:
            raise NoSuchCampaign(campaign_id)
        lists = [k.campaign_rcpts(campaign_id), k.campaign_sample(campaign_id), k.campaign_held(campaign_id)]
        kind = Kind(meta.get("kind", Kind.bulk.value))
        waiting = Counter(f"{kind.value}:{priority_for(kind, unpack(raw).engagement)}"
                          for name in lists for raw in client.lrange(name, 0, -1))
        dropped = sum(waiting.values())
        with client.pipeline(transaction=True) as pipe:
            pipe.delete(*lists)
            if meta.get("held"):
                pipe.hset(k.campaign(campaign_id), "held", 0)
            pipe.hincrby(k.campaign(campaign_id), "cancelled", dropped)
            pipe.hincrby(k.campaign(campaign_id), "total", -dropped)  # what is left to settle: the fed ones
            pipe.hincrby(k.content(meta["content"]), "refs", -dropped)
            for name, n in waiting.items():
                pipe.hincrby(k.campaign_waiting, name, -n)
            pipe.execute()
        total, settled = int(meta["total"]) - dropped, int(meta.get("settled", 0))
        if settled >= total:  # nothing in flight: the campaign is done now
            with client.pipeline(transaction=True) as pipe:
                pipe.zrem(k.campaigns, campaign_id)
                pipe.expire(k.campaign(campaign_id), 7 * 86400)
                pipe.expire(k.campaign_done(campaign_id), 7 * 86400)
                pipe.execute()
        refs = client.hget(k.content(meta["content"]), "refs")
        if refs is not None and int(refs) <= 0:
            client.pexpire(k.content(meta["content"]), grace_ms)
    return {"dropped": dropped, "in_flight": max(0, total - settled)}
