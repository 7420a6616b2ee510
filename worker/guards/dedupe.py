"""Each SES event counts once, whatever SQS redelivers, and a delay older than its delivery is stale.

SQS delivers at least once: the same Bounce, Delivery or Complaint can arrive twice (a consumer that
died before its DeleteMessage, a visibility timeout that ran out). An event's identity is what SES
itself would repeat word for word: the feedback id of a bounce or complaint (unique per report), else
the SES message id, the event type, the recipients and the event's own timestamp (a message delayed
twice is two DeliveryDelay events, each counted). The identity is kept `SEEN_TTL_S`, longer than SQS
can keep a message (14 days), so no redelivery outlives it.

Out of order: a DeliveryDelay delivered after its message's Delivery (SQS does not keep order) is
stale. Decision: it still counts in its send day's delay figures (the receiver did defer, and the
verdict judges what happened), but it does not cut the provider's rate: the receiver has accepted the
mail since, so slowing down now would punish a provider for a delay it has already resolved.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SEEN_TTL_S = 15 * 86400
#: A Delivery's recipients are remembered this long for the stale-delay check: SES gives up
#: retrying a deferred message well within a day, so later delays cannot be about a live attempt.
DELIVERED_TTL_S = 2 * 86400


def identity(event: dict[str, Any]) -> str:
    """A short, stable digest of what makes this SES event itself (see the module docstring)."""
    kind, mail = event.get("eventType", ""), event.get("mail") or {}
    detail = event.get({"Bounce": "bounce", "Complaint": "complaint", "Delivery": "delivery", "DeliveryDelay": "deliveryDelay",
                        "Reject": "reject", "Subscription": "subscription"}.get(kind, ""), None) or {}
    feedback = detail.get("feedbackId") if isinstance(detail, dict) else None
    if feedback:
        parts: list[Any] = [kind, feedback]
    else:
        recipients = _recipients(kind, detail, mail)
        stamp = detail.get("timestamp", "") if isinstance(detail, dict) else ""
        parts = [kind, mail.get("messageId", ""), sorted(recipients), stamp or mail.get("timestamp", "")]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _recipients(kind: str, detail: Any, mail: dict[str, Any]) -> list[str]:
    if not isinstance(detail, dict):
        return [str(a) for a in mail.get("destination") or []]
    for field_name in ("recipients", "bouncedRecipients", "complainedRecipients", "delayedRecipients"):
        found = detail.get(field_name)
        if found:
            return [r if isinstance(r, str) else str(r.get("emailAddress", "")) for r in found]
    return [str(a) for a in mail.get("destination") or []]
