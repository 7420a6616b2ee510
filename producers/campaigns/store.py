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
