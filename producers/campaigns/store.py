"""A campaign in Redis (layout in `config/keys.py`): the content once under its hash, the recipients
packed in one list, the campaign's counters. Written so that a failure half-way leaves nothing
accepted and nothing behind: the recipient list expires until the last write (one MULTI) keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ses_ramp.config.keys import Keys

_CHUNK = 10_000  # recipients per RPUSH
_FLUSH = 20  # RPUSHes per pipeline round trip
#: A half-written recipient list (the writer died or lost Redis) is gone after this.
UNFINISHED_TTL_S = 3600


class CampaignExists(Exception):
    pass


def save(client: Any, keys: Keys, campaign_id: str, sha: str, content_json: str, kind: str, packed: Sequence[str],
         waiting: dict[str, int], meta: dict[str, Any], created_ms: int) -> None:
    """Store one campaign. `packed`: its recipients in sending order; `waiting`: `<kind>:<priority>` ->
    how many of them (for the forecast). Raises CampaignExists when the id is taken."""
    campaign, rcpts = keys.campaign(campaign_id), keys.campaign_rcpts(campaign_id)
    if client.exists(campaign, rcpts):
        raise CampaignExists(campaign_id)
    with client.pipeline(transaction=False) as pipe:
        for i, start in enumerate(range(0, len(packed), _CHUNK)):
            pipe.rpush(rcpts, *packed[start : start + _CHUNK])
            if start == 0:
                pipe.expire(rcpts, UNFINISHED_TTL_S)
            if (i + 1) % _FLUSH == 0:
                pipe.execute()
        pipe.execute()
    content = keys.content(sha)
    with client.pipeline(transaction=True) as pipe:
        pipe.watch(campaign)
        if pipe.exists(campaign):
            raise CampaignExists(campaign_id)
        pipe.multi()
        pipe.hsetnx(content, "body", content_json)
        pipe.hincrby(content, "refs", len(packed))
        pipe.persist(content)  # content another campaign finished with may be in its grace period
        pipe.persist(rcpts)
        pipe.hset(campaign, mapping={**meta, "content": sha, "kind": kind, "total": len(packed), "fed": 0, "settled": 0,
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
