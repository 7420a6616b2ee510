"""The pause follower: each worker consumes exactly the queues that are not paused."""

from __future__ import annotations

import time
from typing import Any

import structlog

log = structlog.get_logger(logger_name="ses_ramp.housekeeping")


class ConsumerSync:
    """Makes this worker consume exactly the queues that are not paused, via Celery's own remote
    control (cancel_consumer / add_consumer), so `celery inspect active_queues` shows the truth.

    Cancelling reads what the worker really consumes (Celery's selected queues), not what this
    follower last did: a consumer added by hand during a pause (`celery control add_consumer bulk`)
    is cancelled again on the next tick."""

    RESEND_S = 5.0  # a cancel travels through the broker; ask again only if it has not landed by then

    def __init__(self, app: Any, hostname: str, client, keys, consuming: set[str]) -> None:
        self.app = app
        self.hostname = hostname
        self.client = client
        self.keys = keys
        self.consuming = set(consuming)
        self._cancel_sent: dict[str, float] = {}

    def actually_consuming(self) -> set[str]:
        return set(self.app.amqp.queues.consume_from or ())

    def __call__(self) -> bool:
        from ses_ramp.worker.guards.pause import flags, paused_queues

        paused = paused_queues(flags(self.client, self.keys))
        wanted = {"transactional", "bulk"} - paused
        now = time.monotonic()
        for queue in sorted(self.actually_consuming() & paused):
            if now - self._cancel_sent.get(queue, float("-inf")) < self.RESEND_S:
                continue
            self._cancel_sent[queue] = now
            self.app.control.cancel_consumer(queue, destination=[self.hostname], reply=False)
            log.warning("queue_paused_consumer_cancelled", queue=queue, worker=self.hostname)
        for queue in sorted(wanted - self.consuming):
            self._cancel_sent.pop(queue, None)
            self.app.control.add_consumer(queue, destination=[self.hostname], reply=False)
            log.info("queue_resumed_consumer_added", queue=queue, worker=self.hostname)
        self.consuming = wanted
        return False
