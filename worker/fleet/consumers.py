"""The pause follower: each worker consumes exactly the queues that are not paused."""

from __future__ import annotations

from typing import Any

import structlog

log = structlog.get_logger(logger_name="ses_ramp.housekeeping")


class ConsumerSync:
    """Makes this worker consume exactly the queues that are not paused, via Celery's own remote
    control (cancel_consumer / add_consumer), so `celery inspect active_queues` shows the truth."""

    def __init__(self, app: Any, hostname: str, client, keys, consuming: set[str]) -> None:
        self.app = app
        self.hostname = hostname
        self.client = client
        self.keys = keys
        self.consuming = set(consuming)

    def __call__(self) -> bool:
        from ses_ramp.worker.guards.pause import flags, paused_queues

        wanted = {"transactional", "bulk"} - paused_queues(flags(self.client, self.keys))
        for queue in sorted(self.consuming - wanted):
            self.app.control.cancel_consumer(queue, destination=[self.hostname], reply=False)
            log.warning("queue_paused_consumer_cancelled", queue=queue, worker=self.hostname)
        for queue in sorted(wanted - self.consuming):
            self.app.control.add_consumer(queue, destination=[self.hostname], reply=False)
            log.info("queue_resumed_consumer_added", queue=queue, worker=self.hostname)
        self.consuming = wanted
        return False
