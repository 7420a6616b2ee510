"""The deferred-message mover: due members of the deferred set go back onto their Celery queue."""

from __future__ import annotations

from typing import Any

from ses_ramp.producers.message import Message
from ses_ramp.producers.wire import SEND_TASK, publish_options
from ses_ramp.worker.send.deferrals import DeferralStore


class Mover:
    """Moves due deferred messages back onto their Celery queue."""

    def __init__(self, deferrals: DeferralStore, app: Any, batch: int) -> None:
        self.deferrals = deferrals
        self.app = app
        self.batch = batch

    def run_once(self) -> int:
        claimed = self.deferrals.claim_due(self.batch)
        if not claimed:
            return 0
        with self.app.producer_or_acquire() as producer:
            with producer.batch(max_size=len(claimed) * 2 + 1):
                for _, entry in claimed:
                    wire = entry["message"]
                    message = Message.from_wire(wire)
                    self.app.send_task(
                        SEND_TASK,
                        args=[wire],
                        kwargs={"attempt": int(entry.get("attempt", 0))},
                        task_id=message.id,
                        producer=producer,
                        **publish_options(message),
                    )
        # Only after the publish is flushed: a crash before this leaves a lease that expires and
        # republishes (a duplicate the idempotency record absorbs), never a lost message.
        return self.deferrals.ack([mid for mid, _ in claimed])


