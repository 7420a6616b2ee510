"""`ramp unconfirmed list|resend ID|drop ID`: an operator's decision on a send SES may have."""

from __future__ import annotations

import json
from typing import Any

from ses_ramp.worker.fleet.reconcile import settle_unconfirmed


def entries(runtime: Any) -> list[dict[str, Any]]:
    out = [{"id": mid, **json.loads(raw)} for mid, raw in runtime.client.hscan_iter(runtime.budget.keys.unconfirmed, count=1000)]
    return sorted(out, key=lambda e: e["at_ms"])


def decide(runtime: Any, message_id: str, outcome: str) -> bool:
    """`resend` (the operator checked: SES never had it) or `dropped` (it went, or is not wanted:
    never resent). False when there is no such unconfirmed send."""
    raw = runtime.client.hget(runtime.budget.keys.unconfirmed, message_id)
    if not raw:
        return False
    return settle_unconfirmed(runtime, message_id, json.loads(raw), outcome)
