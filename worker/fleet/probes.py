"""Probes in Redis: each sampling campaign's SES events judged (`config/probe.py`'s verdict), and the
held recipients released into the campaign's flowing list, by that verdict or by an operator.

A release moves recipients a batch at a time, each batch one MULTI (copy to the tail of
`campaign_rcpts`, trim from `campaign_sample`/`campaign_held`) under the feeder's lock of that campaign, so a
crash between batches leaves every recipient in exactly one list, and the next pass goes on (a released
campaign with recipients still held is moved on by `judge_all`).
"""

from __future__ import annotations

from typing import Any

import structlog

from ses_ramp.config.keys import Keys
from ses_ramp.config.probe import PARKED, RELEASED, SAMPLING, ProbePolicy, Verdict, judge
from ses_ramp.producers.redis_client import text_hash
from ses_ramp.worker.fleet.feeder import LOCK_S

log = structlog.get_logger(logger_name="ses_ramp.probes")

BATCH = 10_000
JUDGE_EVERY_S = 5


class NotHeld(LookupError):
    """The campaign has no probe, or nothing held: nothing to release."""


def counts(client: Any, keys: Keys, campaign_id: str) -> dict[str, int]:
    """The sample's SES events so far (`guards/events.py` counts them once each)."""
    return {k: int(v) for k, v in text_hash(client.hgetall(keys.campaign_probe(campaign_id))).items()}


def verdict_of(policy: ProbePolicy, meta: dict[str, str], seen: dict[str, int], now_ms: int) -> Verdict | None:
    fed_ms = meta.get("probe_fed_ms")
    waited_s = (now_ms - int(fed_ms)) / 1000 if fed_ms else None
    other = seen.get("soft_bounces", 0) + seen.get("rejects", 0)
    return judge(policy, int(meta.get("sample", 0)), seen.get("deliveries", 0), seen.get("hard_bounces", 0), other, waited_s)


def judge_all(client: Any, keys: Keys, policy: ProbePolicy, now_ms: int) -> int:
    """One pass of the fleet duty: judge each sampling campaign whose sample has settled, and move on the
    releases under way, at most once per JUDGE_EVERY_S fleet-wide (one verdict, never two racing). Returns how
    many recipients were released."""
    if not client.set(keys.lock("probe_judge"), "1", nx=True, ex=JUDGE_EVERY_S):
        return 0
    released = 0
    for raw in client.zrange(keys.campaigns, 0, -1):
        campaign_id = raw.decode() if isinstance(raw, bytes) else raw
        meta = text_hash(client.hgetall(keys.campaign(campaign_id)))
        state = meta.get("probe")
        if state == SAMPLING:
            verdict = verdict_of(policy, meta, counts(client, keys, campaign_id), now_ms)
            if verdict is None:
                continue
            client.hset(keys.campaign(campaign_id), mapping={"probe": verdict.state, "probe_reason": verdict.reason,
                                                             "probe_judged_ms": now_ms})
            if verdict.state == PARKED:
                log.warning("probe_parked", campaign_id=campaign_id, reason=verdict.reason)
            else:
                log.info("probe_passed", campaign_id=campaign_id, reason=verdict.reason)
            state = verdict.state
        if state == RELEASED and int(meta.get("held", 0) or 0) + client.llen(keys.campaign_sample(campaign_id)) > 0:
            released += move_held(client, keys, campaign_id)
    return released


def release(client: Any, keys: Keys, campaign_id: str, by: str, now_ms: int) -> int:
    """The operator releases a probed campaign's held recipients (parked, or still sampling): they join the
    recipients that flow. Returns how many. Raises NotHeld."""
    meta = text_hash(client.hgetall(keys.campaign(campaign_id)))
    if not meta or meta.get("probe") not in (SAMPLING, PARKED, RELEASED):
        raise NotHeld(campaign_id)
    reason = meta.get("probe_reason", "sampling")
    client.hset(keys.campaign(campaign_id), mapping={"probe": RELEASED, "probe_reason": f"{reason}; released by {by}",
                                                     "probe_judged_ms": now_ms})
    log.warning("probe_released", campaign_id=campaign_id, by=by, was=reason)
    return move_held(client, keys, campaign_id)


def move_held(client: Any, keys: Keys, campaign_id: str) -> int:
    """Every recipient still in the sample list or held, appended to the flowing list (sample first)."""
    moved = 0
    rcpts, campaign = keys.campaign_rcpts(campaign_id), keys.campaign(campaign_id)
    with client.lock(keys.lock(f"feed:{campaign_id}"), timeout=LOCK_S, blocking_timeout=LOCK_S):
        for source, field in ((keys.campaign_sample(campaign_id), None), (keys.campaign_held(campaign_id), "held")):
            while rows := client.lrange(source, 0, BATCH - 1):
                with client.pipeline(transaction=True) as pipe:
                    pipe.rpush(rcpts, *rows)
                    pipe.ltrim(source, len(rows), -1)
                    if field:
                        pipe.hincrby(campaign, field, -len(rows))
                    pipe.execute()
                moved += len(rows)
    if moved:
        log.info("probe_held_released", campaign_id=campaign_id, recipients=moved)
    return moved


def described(meta: dict[str, str], seen: dict[str, int], sample_left: int) -> str | None:
    """One line on a campaign's probe (`ramp campaigns list`, status), or None without one; `sample_left`: of
    its sample, not fed yet (held with the rest once the probe is parked)."""
    state = meta.get("probe")
    if not state:
        return None
    held = int(meta.get("held", 0) or 0) + (sample_left if state != SAMPLING else 0)
    if state == SAMPLING:
        settled = seen.get("deliveries", 0) + seen.get("hard_bounces", 0) + seen.get("soft_bounces", 0) + seen.get("rejects", 0)
        return (f"probing: {settled} of a sample of {meta.get('sample', 0)} delivered or bounced "
                f"({seen.get('hard_bounces', 0)} hard bounces); {held:,} new recipients held")
    if state == PARKED:
        return f"{meta.get('probe_reason', 'probe failed')}; {held:,} new recipients parked"
    return meta.get("probe_reason", "probe released")
