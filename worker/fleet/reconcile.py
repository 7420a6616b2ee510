"""The unconfirmed-send reconciler: a SES Send event proves a send went; none after a delay proves it did not."""

from __future__ import annotations

import json

import structlog

log = structlog.get_logger(logger_name="ses_ramp.housekeeping")


def resolve_unconfirmed(runtime, resend_after_s: int, limit: int = 500) -> int:
    """Settle sends a worker died inside: a Send event from SES proves it went (mark it sent); no
    event after `resend_after_s` proves it did not (release its claim and send it again).
    Each entry is claimed with HDEL first, so two workers never act on the same one."""
    k = runtime.budget.keys
    now = runtime.budget.now_ms()
    resolved = 0
    for mid, raw in list(runtime.client.hscan_iter(k.unconfirmed, count=limit))[:limit]:
        entry = json.loads(raw)
        seen = runtime.client.exists(k.send_event(mid))
        if not seen and now - entry["at_ms"] < resend_after_s * 1000:
            continue
        if not runtime.client.hdel(k.unconfirmed, mid):
            continue  # another worker took it
        message = entry["message"]
        idem = k.idem(message.get("idempotency_key") or mid)
        if seen:
            runtime.client.set(idem, "sent:event", ex=runtime.budget.idem_ttl_s)
            log.info("unconfirmed_resolved", message_id=mid, outcome="sent")
        else:
            runtime.client.delete(idem)
            runtime.deferrals.defer(message, int(entry.get("attempt", 0)), 0, "resend: no SES Send event")
            log.warning("unconfirmed_resent", message_id=mid, waited_s=resend_after_s)
        resolved += 1
    return resolved


