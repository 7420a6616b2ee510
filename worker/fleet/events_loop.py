"""`ramp events`: configuration set -> SNS -> SQS -> this loop -> `guards.events.EventStore` (counters,
suppression), then the breaker.

A message is deleted from SQS only after its effects are stored. A malformed one is logged, moved
aside (Redis `bad_events`) and deleted, so it never blocks the queue or crashes the loop.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import RedisError

from ses_ramp.config import Settings
from ses_ramp.producers.providers import Known
from ses_ramp.worker.fleet.heartbeat import Heartbeat
from ses_ramp.worker.guards.breaker import Breaker
from ses_ramp.worker.guards.event_parse import MalformedEvent
from ses_ramp.worker.guards.events import BAD_EVENTS_KEPT, EventStore, handle_body
from ses_ramp.worker.send.transports.aws import aws_client

log = structlog.get_logger(logger_name="ses_ramp.events")


class EventsConsumer:
    """Long-polls the events queue; `poll_once` is the unit a loop or a beat task runs."""

    def __init__(self, settings: Settings, runtime, breaker, sqs=None) -> None:
        self.settings = settings
        self.runtime = runtime
        self.breaker = breaker
        self.sqs = sqs or aws_client(settings, "sqs")
        # One domain -> provider memory for the counts and the per-provider back-off (the budget's, when it has one).
        known = runtime.budget.known or Known(settings, runtime.client)
        self.store = EventStore(runtime.client, runtime.budget.keys, settings.day_timezone, known,
                                settings.overflow_configuration_set)
        self._queue_url: str | None = None
        self.heartbeat: Heartbeat | None = None  # set by `ramp events`: refreshed after each successful poll

    @property
    def queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self.sqs.get_queue_url(QueueName=self.settings.events_queue_name)["QueueUrl"]
        return self._queue_url

    def poll_once(self, wait_s: int | None = None) -> int:
        """Receive up to 10 events, store their effects, delete them. Returns how many were handled."""
        got = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10,
            WaitTimeSeconds=self.settings.events_wait_s if wait_s is None else wait_s,
        ).get("Messages", [])
        done = []
        newest_ms = 0
        try:
            for msg in got:
                try:
                    fx = handle_body(self.store, self.runtime.budget, msg["Body"])
                except MalformedEvent as exc:
                    self._move_aside(msg, str(exc))
                else:
                    newest_ms = max(newest_ms, fx.mail_ms)
                done.append(msg)
        finally:
            # Only what was stored is acknowledged; the rest (a Redis failure) comes back after
            # the SQS visibility timeout.
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
        # The watermark moves only after the effects are stored: it may lag, never lead.
        self.store.note_progress(newest_ms or None, None if got else self._empty_since_ms())
        if got:
            self.breaker.evaluate()
        return len(done)

    def _empty_since_ms(self) -> int | None:
        """After an empty receive: the time up to which no event can still be on its way, or None.
        An empty receive alone proves little: an event another `ramp events` received and has not
        deleted yet is invisible for the queue's VisibilityTimeout. So the queue counts as empty only
        when SQS also reports no message in flight (ApproximateNumberOfMessagesNotVisible = 0), and,
        as that count is approximate, only up to one VisibilityTimeout ago: anything received before
        that and not deleted would have become visible again."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible", "VisibilityTimeout"],
        ).get("Attributes", {})
        if int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)):
            return None
        return self.runtime.budget.now_ms() - int(attrs.get("VisibilityTimeout", 30)) * 1000

    def _move_aside(self, msg: dict[str, Any], why: str) -> None:
        log.warning("malformed_event", sqs_message_id=msg.get("MessageId"), error=why)
        k = self.runtime.budget.keys
        entry = json.dumps({"error": why, "body": msg.get("Body", "")[:10_000], "at_ms": self.runtime.budget.now_ms()})
        with self.runtime.client.pipeline(transaction=True) as pipe:
            pipe.lpush(k.bad_events, entry)
            pipe.ltrim(k.bad_events, 0, BAD_EVENTS_KEPT - 1)
            pipe.execute()

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop`: every failure is logged and waited out, none ends the loop."""
        delay_s = 1.0
        while not stop.is_set():
            try:
                self.poll_once()
                self.breaker.check_alarm()
                if self.heartbeat is not None:
                    self.heartbeat.beat()
                delay_s = 1.0
            except (BotoCoreError, ClientError) as exc:
                self._queue_url = None if isinstance(exc, ClientError) else self._queue_url
                log.error("events_sqs_unavailable", endpoint=self.settings.effective_aws_endpoint_url or "aws",
                          queue=self.settings.events_queue_name, error=str(exc), retry_in_s=delay_s)
                stop.wait(delay_s)
                delay_s = min(60.0, delay_s * 2)
            except RedisError as exc:
                log.error("events_redis_unavailable", error=str(exc), retry_in_s=delay_s)
                stop.wait(delay_s)
                delay_s = min(60.0, delay_s * 2)
            except Exception:  # noqa: BLE001 - the loop must survive anything
                log.exception("events_loop_error")
                stop.wait(delay_s)
            if stop.is_set():
                break


def _consumer(settings: Settings, runtime) -> EventsConsumer:
    """The consumer `ramp events` runs: SQS in, with the breaker watching the CloudWatch alarm."""
    return EventsConsumer(settings, runtime, Breaker(settings, runtime, cloudwatch=aws_client(settings, "cloudwatch")))


def run_events(settings: Settings, runtime, stop: threading.Event) -> None:
    """`ramp events`: consume until `stop`, with the heartbeat `ramp health events` reads."""
    consumer = _consumer(settings, runtime)
    # Refreshed after every poll; a poll waits up to RAMP_EVENTS_WAIT_S, so the key outlives a few.
    heartbeat = consumer.heartbeat = Heartbeat(runtime.client, runtime.budget.keys, "events", ttl_s=3 * settings.events_wait_s + 30)
    try:
        consumer.run(stop)
    finally:
        heartbeat.stop()


def poll_events_once(settings: Settings, runtime) -> int:
    """`ramp events --once`: one poll without waiting; returns how many events were handled."""
    return _consumer(settings, runtime).poll_once(wait_s=0)
