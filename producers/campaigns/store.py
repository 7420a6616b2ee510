"""A campaign in Redis (layout in `config/keys.py`): the content once under its hash, the recipients
packed in one list, the campaign's counters. Written so that a failure half-way leaves nothing
accepted and nothing behind: the recipient list expires until the last write (one MULTI) keeps it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ses_ramp.config.keys import Keys
from ses_ramp.producers.campaigns.recipients import unpack
from ses_ramp.producers.message import Kind
from ses_ramp.producers.redis_client import text_hash
from ses_ramp.producers.wire import priority_for

_CHUNK = 10_000  # recipients per RPUSH
_FLUSH = 20  # RPUSHes per pipeline round trip
#: A half-written recipient list (the writer died or lost Redis) is gone after this.
UNFINISHED_TTL_S = 3600


#: The feeder's lock on one campaign (`lock:feed:<id>`): whoever changes its lists holds it.
FEED_LOCK_S = 60


class CampaignExists(Exception):
    pass


class NoSuchCampaign(LookupError):
    pass


def save(client: Any, keys: Keys, campaign_id: str, sha: str, content_json: str, kind: str, packed: Sequence[str],
         waiting: dict[str, int], meta: dict[str, Any], created_ms: int, sample: Sequence[str] = (),
         held: Sequence[str] = ()) -> None:
    """Store one campaign. `packed`: its recipients in sending order; `waiting`: `<kind>:<priority>` ->
    how many of them (for the forecast). With a probe (`config/probe.py`), `sample` goes first and `held`
    waits for its verdict; `meta` then carries the probe's fields. Raises CampaignExists when the id is taken."""
    campaign = keys.campaign(campaign_id)
    lists = [(name, rows) for name, rows in ((keys.campaign_rcpts(campaign_id), packed), (keys.campaign_sample(campaign_id), sample),
                                             (keys.campaign_held(campaign_id), held)) if rows]
    if client.exists(campaign, keys.campaign_rcpts(campaign_id)):
        raise CampaignExists(campaign_id)
    with client.pipeline(transaction=False) as pipe:
        pushes = 0
        for name, rows in lists:
            for start in range(0, len(rows), _CHUNK):
                pipe.rpush(name, *rows[start : start + _CHUNK])
                if start == 0:
                    pipe.expire(name, UNFINISHED_TTL_S)
                pushes += 1
                if pushes % _FLUSH == 0:
                    pipe.execute()
        pipe.execute()
    content, total = keys.content(sha), sum(len(rows) for _, rows in lists)
    with client.pipeline(transaction=True) as pipe:
        pipe.watch(campaign)
        if pipe.exists(campaign):
            raise CampaignExists(campaign_id)
        pipe.multi()
        pipe.hsetnx(content, "body", content_json)
        pipe.hincrby(content, "refs", total)
        pipe.persist(content)  # content another campaign finished with may be in its grace period
        for name, _ in lists:
            pipe.persist(name)
        pipe.hset(campaign, mapping={**meta, "content": sha, "kind": kind, "total": total, "fed": 0, "settled": 0,
                                     "created_ms": created_ms})
        for field, n in waiting.items():
            pipe.hincrby(keys.campaign_waiting, field, n)
        pipe.zadd(keys.campaigns, {campaign_id: created_ms})
        pipe.execute()


def content_body(client: Any, keys: Keys, sha: str) -> str | None:
    body = client.hget(keys.content(sha), "body")
    return body.decode() if isinstance(body, bytes) else body


def progress(client: Any, keys: Keys) -> list[dict[str, Any]]:
    """Every campaign not yet settled to its last recipient, oldest first."""
    ids = [i.decode() if isinstance(i, bytes) else i for i in client.zrange(keys.campaigns, 0, -1)]
    with client.pipeline(transaction=False) as pipe:
        for campaign_id in ids:
            pipe.hgetall(keys.campaign(campaign_id))
        rows = pipe.execute()
    out = []
    for campaign_id, raw in zip(ids, rows):
        row = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()}
        if row:
            out.append({"id": campaign_id, **row})
    return out


def cancel(client: Any, k: Keys, campaign_id: str, grace_ms: int) -> dict[str, int]:
    """Drop the campaign's recipients not yet fed, counted as settled (and released from the content);
    those already fed go on (pause bulk first to stop them too). Holds the feeder's lock, so no feed
    runs half-way through. Returns {"dropped": n, "in_flight": m}."""
    with client.lock(k.lock(f"feed:{campaign_id}"), timeout=FEED_LOCK_S, blocking_timeout=FEED_LOCK_S):
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
