"""Background duties: requeue due deferred messages, refresh the SES account quota, restore the
adaptive rate, settle unconfirmed sends (the fleet duties), and, in `ramp beat`, the breaker.

Each worker runs the fleet duties unless `RAMP_WORKER_HOUSEKEEPING=false` leaves them to `ramp beat`.
Several processes run them at once safely: claims are atomic in Lua, the quota refresh takes a lock.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

import structlog
from redis.exceptions import RedisError

from ses_ramp.producers.message import Message
from ses_ramp.producers.wire import SEND_TASK, publish_options
from ses_ramp.worker.budget import Budget
from ses_ramp.worker.deferrals import DeferralStore
from ses_ramp.worker.transports.base import Transport

log = structlog.get_logger(logger_name="ses_ramp.housekeeping")


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


def refresh_account_quota(budget: Budget, transport: Transport, every_s: int) -> bool:
    """Re-read SES GetAccount at most every `every_s` seconds fleet-wide; True when refreshed."""
    if not budget.client.set(budget.keys.lock("account"), "1", nx=True, ex=every_s):
        return False
    quota = transport.account_quota()
    if quota is None:
        return False
    budget.store_account_quota(*quota)
    return True


def fleet_duties(settings, runtime, app: Any) -> list[Callable[[], Any]]:
    """The duties any one process may run for the whole fleet; each returns True when busy."""
    mover = Mover(runtime.deferrals, app, settings.mover_batch)

    def move_due() -> int:
        return mover.run_once()

    def account_quota() -> bool:
        return refresh_account_quota(runtime.budget, runtime.sender.transport, settings.account_quota_refresh_s)

    def adaptive_rate() -> bool:
        runtime.budget.recover()
        return False

    def unconfirmed() -> bool:
        resolve_unconfirmed(runtime, settings.unconfirmed_resend_after_s)
        return False

    return [move_due, account_quota, adaptive_rate, unconfirmed]


def breaker_duties(settings, breaker) -> list[Callable[[], Any]]:
    """`ramp beat`'s watch: the rates on every tick (events may stop, a resume may come), the
    CloudWatch alarm every `beat_alarm_poll_s`."""
    last_poll = [float("-inf")]

    def breaker_rates() -> bool:
        breaker.evaluate()
        return False

    def bounce_alarm() -> bool:
        if time.monotonic() - last_poll[0] >= settings.beat_alarm_poll_s:
            last_poll[0] = time.monotonic()
            breaker.check_alarm()
        return False

    return [breaker_rates, bounce_alarm]


class Housekeeper(threading.Thread):
    """A daemon thread in the worker's main process running `duties` every `interval_s`."""

    def __init__(self, duties: list[Callable[[], Any]], interval_s: float) -> None:
        super().__init__(name="ses-ramp-housekeeper", daemon=True)
        self.duties = duties
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            busy = False
            for duty in self.duties:
                try:
                    busy = bool(duty()) or busy
                except RedisError as exc:
                    log.warning("housekeeping_redis_error", duty=getattr(duty, "__name__", "?"), error=str(exc))
                except Exception:  # noqa: BLE001 - a failing duty must not kill the thread
                    log.exception("housekeeping_failed", duty=getattr(duty, "__name__", "?"))
            # A full batch moved: go again at once, the backlog is large.
            if not busy:
                self.stopping.wait(self.interval_s)

    def stop(self) -> None:
        self.stopping.set()


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
        from ses_ramp.worker.pause import flags, paused_queues

        wanted = {"transactional", "bulk"} - paused_queues(flags(self.client, self.keys))
        for queue in sorted(self.consuming - wanted):
            self.app.control.cancel_consumer(queue, destination=[self.hostname], reply=False)
            log.warning("queue_paused_consumer_cancelled", queue=queue, worker=self.hostname)
        for queue in sorted(wanted - self.consuming):
            self.app.control.add_consumer(queue, destination=[self.hostname], reply=False)
            log.info("queue_resumed_consumer_added", queue=queue, worker=self.hostname)
        self.consuming = wanted
        return False
