"""The deferred-message mover: due members of the deferred set go back onto their Celery queue."""

from __future__ import annotations

from typing import Any

import structlog

from ses_ramp.producers.errors import InvalidMessage
from ses_ramp.producers.wire import republish
from ses_ramp.worker.send.deferrals import DeferralStore

log = structlog.get_logger(logger_name="ses_ramp.mover")


class Mover:
    """Moves due deferred messages back onto their Celery queue."""

    def __init__(self, deferrals: DeferralStore, app: Any, batch: int, compress_over_bytes: int = 0) -> None:
        self.deferrals = deferrals
        self.app = app
        self.batch = batch
        self.compress_over_bytes = compress_over_bytes

    def run_once(self) -> int:
        claimed = self.deferrals.claim_due(self.batch)
        if not claimed:
            return 0
        now_ms = self.deferrals.now_ms()
        with self.app.producer_or_acquire() as producer:
            with producer.batch(max_size=len(claimed) * 2 + 1):
                for mid, entry in claimed:
                    try:
                        republish(self.app, entry["message"], int(entry.get("attempt", 0)), producer, self.compress_over_bytes)
                    except (InvalidMessage, KeyError, TypeError, ValueError) as exc:
                        # One payload nobody can read must not hold back the batch it came in.
                        self.deferrals.dead_letter(_keepable(mid, entry), int(entry.get("attempt", 0)) if isinstance(entry, dict) else 0,
                                                   f"unreadable deferred payload: {exc}", now_ms)
                        log.error("mover_unreadable_payload", message_id=mid, error=str(exc))
                        continue
        # Only after the publish is flushed: a crash before this leaves a lease that expires and
        # republishes (a duplicate the idempotency record absorbs), never a lost message.
        return self.deferrals.ack([mid for mid, _ in claimed])


def _keepable(mid: str, entry: Any) -> dict[str, Any]:
    """What the dead letter keeps of an unreadable entry: its message if it has one, else the raw entry."""
    message = entry.get("message") if isinstance(entry, dict) else None
    if isinstance(message, dict):
        return {**message, "id": mid}
    return {"id": mid, "unreadable": entry if isinstance(entry, str) else repr(entry)[:10_000]}
