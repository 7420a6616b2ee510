"""The unconfirmed-send reconciler: a SES Send event proves a send went; only the events watermark
can prove one did not.

An unconfirmed send (a worker died inside its SES call, an answer was lost) is resent only when
`ramp events` has been live and caught up well past the claim: it found the SQS queue empty, with
no message in flight at another consumer, and counts that as empty only up to one queue
VisibilityTimeout ago (`EventsConsumer._empty_since_ms`), at a time at least
`RAMP_UNCONFIRMED_RESEND_AFTER_S` after the claim (SES publishes a Send event within
seconds; the margin covers its delays). When the consumer is down or behind, nothing proves the
absence, so the send stays unconfirmed (counted in `ramp status` and the metrics) and an operator
decides with `ramp unconfirmed list|resend ID|drop ID`.

Counters: settle.lua keeps `used = sent + unconfirmed + dropped + claims in an SES call` for the day;
a resolution moves the charge from `unconfirmed` to `sent`, a resend refunds it (the resend charges
anew), a drop keeps it as `dropped`.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from redis.exceptions import WatchError

from ses_ramp.worker.budget.claim import Claim

log = structlog.get_logger(logger_name="ses_ramp.housekeeping")


def absence_proven(watermark: dict[str, int | None], claimed_at_ms: int, resend_after_s: int) -> bool:
    """The events consumer found the queue empty long enough after the claim for a Send event to have come."""
    empty_at = watermark.get("empty_at_ms")
    return empty_at is not None and empty_at >= claimed_at_ms + resend_after_s * 1000


def settle_unconfirmed(runtime: Any, mid: str, entry: dict[str, Any], outcome: str) -> bool:
    """Close one unconfirmed entry: `sent` (SES had it), `resend` (it never went: refund and send
    again) or `dropped` (an operator's call: never resent). The settle, the resend's deferral and the
    entry's removal are one MULTI/EXEC, so a crash leaves either all of it done or none of it; WATCH
    on the idempotency record makes two processes acting on the same entry settle it once. Returns
    False when another process closed it first (nothing done here)."""
    message = entry["message"]
    claim = entry.get("claim")
    key = (claim or {}).get("key") or message.get("idempotency_key") or mid
    budget = runtime.budget
    idem_key = budget.keys.idem(key)
    with runtime.client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(idem_key, budget.keys.unconfirmed)
            if not pipe.hexists(budget.keys.unconfirmed, mid):
                return False  # another process closed it
            record = _text(pipe.get(idem_key) or "")
            pipe.multi()
            if claim and claim["token"] in record.split(":", 2)[2:] and record.split(":", 1)[0] in ("inflight", "unconfirmed"):
                settled = {"sent": "sent", "resend": "waiting", "dropped": "dropped"}[outcome]
                budget.settle_claim(settled, Claim.from_record(claim), ses_id="event" if outcome == "sent" else "",
                                    from_unconfirmed=True, client=pipe)
            elif outcome == "resend":  # an entry from before claims were kept, or a claim no longer on record
                pipe.delete(idem_key)
            else:
                pipe.set(idem_key, f"sent:{'event' if outcome == 'sent' else 'dropped'}", ex=budget.idem_ttl_s)
            if outcome == "resend":
                runtime.deferrals.defer(message, int(entry.get("attempt", 0)), 0, "resend: absence of a SES Send event proven",
                                        client=pipe)
            pipe.hdel(budget.keys.unconfirmed, mid)
            pipe.execute()
        except WatchError:
            return False  # another process acted on it meanwhile: it is theirs
    return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def resolve_unconfirmed(runtime: Any, resend_after_s: int, limit: int = 500) -> int:
    """One pass over the unconfirmed sends; each is closed in one transaction (`settle_unconfirmed`).
    Returns how many were resolved or resent."""
    from ses_ramp.worker.guards.events import EventStore

    k = runtime.budget.keys
    watermark = EventStore(runtime.client, k).watermark()
    resolved = 0
    for mid, raw in list(runtime.client.hscan_iter(k.unconfirmed, count=limit))[:limit]:
        entry = json.loads(raw)
        seen = runtime.client.exists(k.send_event(mid))
        if not seen and not absence_proven(watermark, int(entry["at_ms"]), resend_after_s):
            continue  # no proof either way: it stays unconfirmed
        if not settle_unconfirmed(runtime, mid, entry, "sent" if seen else "resend"):
            continue  # another process took it
        if seen:
            log.info("unconfirmed_resolved", message_id=mid, outcome="sent")
        else:
            log.warning("unconfirmed_resent", message_id=mid, watermark_empty_at_ms=watermark["empty_at_ms"])
        resolved += 1
    return resolved
