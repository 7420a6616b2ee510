"""Publishing messages: `enqueue` for one, `enqueue_many` (pipelined), `enqueue_campaign`.

Publishes by task name, so the app needs no worker code. Every refusal happens before the queue: the
checks are `screening.py`, each message's place in line and receipt `placement.py`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from ses_ramp.config import Settings, load_settings, mask_url
from ses_ramp.config.keys import Keys
from ses_ramp.producers import guarded
from ses_ramp.producers.campaigns.intake import CampaignReceipt
from ses_ramp.producers.campaigns.intake import enqueue_campaign as intake_campaign
from ses_ramp.producers.errors import BatchPartiallyPublished, InvalidMessage, QueueUnavailable
from ses_ramp.producers.message import Kind, Message, normalise_address
from ses_ramp.producers.placement import Placement, Receipt
from ses_ramp.producers.redis_client import redis_from_settings
from ses_ramp.producers.screening import Screening
from ses_ramp.producers.unsubscribe import suppression_lists
from ses_ramp.producers.wire import SEND_TASK, celery_config, publish_options, task_args

__all__ = ["Producer", "Receipt", "enqueue", "enqueue_campaign", "enqueue_many"]

#: Fail fast when the broker is down instead of blocking the app (kombu's default retries for ~1 s).
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.25, "interval_max": 0.5}
_BATCH = 500


class Producer:
    """Validates and publishes messages for one `Settings`. Thread-safe; build one per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = Celery("ses_ramp_producer", set_as_current=False)
        self.app.conf.update(celery_config(settings))
        # One-by-one enqueue checks suppression inside the publish when queues and lists share a Redis.
        self._guarded = guarded.usable(settings.effective_broker_url, settings.effective_redis_url)
        transport = guarded.transport_for(settings.effective_broker_url)  # counted batches (and the guard)
        if transport:
            self.app.conf.broker_transport = transport
        self._redis: redis.Redis | None = None
        self._script: Any = None
        self.keys = Keys(settings.key_prefix)
        self._lock = threading.Lock()
        self.placement = Placement(settings, self.keys, self.redis_client)
        self.screening = Screening(settings, self.redis_client, self.placement)

    # -- validation ----------------------------------------------------------------------------
    def prepare(self, data: Message | dict[str, Any]) -> Message:
        """Validate `data` into a ready-to-publish Message or raise `InvalidMessage`."""
        return self.prepare_many([data])[0]

    def prepare_many(self, items: Iterable[Message | dict[str, Any]]) -> list[Message]:
        """Validate every item; one Redis round trip checks all recipients against suppression."""
        return self.screening.prepare_many(items)

    def validate(self, data: Message | dict[str, Any]) -> Message:
        """Every check `enqueue` makes of one message except suppression (which needs its recipients' lists)."""
        return self.screening.validate(data)

    def check_each(self, items: list[Any]) -> list[Message | InvalidMessage]:
        """Validate every item on its own, exactly as `prepare_many` does, and return for each either
        its ready Message or the error that refuses it (the HTTP door reports one error per item).
        Raises `QueueUnavailable` when the suppression lists cannot be read."""
        return self.screening.check_each(items)

    def now_ms(self) -> int:
        """Now on the scripts' clock: Redis TIME plus the clock offset tests and `ramp simulate` move."""
        with self.redis_client().pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.get(self.keys.clock_offset_ms)
            (secs, micros), offset = pipe.execute()
        return int(secs) * 1000 + int(micros) // 1000 + int(offset or 0)

    def redis_client(self) -> redis.Redis:
        """This producer's Redis client (forecast, suppression lists, the HTTP door's status), made on first use."""
        with self._lock:
            if self._redis is None:
                self._redis = redis_from_settings(self.settings, prompt=True)
            return self._redis

    # -- publishing --------------------------------------------------------------------------------
    def enqueue(self, data: Message | dict[str, Any]) -> Receipt:
        """Validate and publish one message; return its receipt. Where it can, the suppression check
        rides on the publish (one round trip, `guarded.py`); a message it stops is then refused (or
        trimmed, with RAMP_DROP_SUPPRESSED_RECIPIENTS) exactly as `prepare` would."""
        if not self._guarded:
            return self._publish_one(self.prepare(data))
        message = self.screening.validate(data)
        place = self.placement.take(message)
        guard = guarded.Guard(self._guard_script(), self._set_keys(message), [normalise_address(a) for a in message.recipients])
        token = guarded.GUARD.set(guard)
        try:
            self._send(message)
        finally:
            guarded.GUARD.reset(token)
        if guard.answer is None:  # never so with this transport: the publish went unchecked, say so loudly
            raise RuntimeError("the guarded publish did not run: the message was published without its suppression check")
        if int(guard.answer[0]) == 0:
            return self.placement.receipt(message, place)
        self.placement.give_back(message)
        return self._publish_one(self.prepare(message))  # refused: the full check says why (or trims)

    def _publish_one(self, message: Message) -> Receipt:
        place = self.placement.take(message)
        self._send(message)
        return self.placement.receipt(message, place)

    def _send(self, message: Message) -> None:
        try:
            self._publish(message, producer=None)
        except (KombuError, RedisError, OSError) as exc:
            raise QueueUnavailable(mask_url(self.settings.effective_broker_url), exc) from None

    def _guard_script(self) -> Any:
        if self._script is None:
            self._script = self.redis_client().register_script(guarded.SOURCE)
        return self._script

    def _set_keys(self, message: Message) -> list[str]:
        lists = suppression_lists(message) if message.kind is Kind.bulk else []
        return [self.keys.suppressed, *(self.keys.unsubscribed(list_id) for list_id in lists)]

    def enqueue_campaign(self, content: Any, recipients: Iterable[Any], *, campaign_id: str | None = None,
                         expire_ok: bool = False) -> CampaignReceipt:
        """Store `content` once and queue one small message per recipient (dicts with `email`, optional
        `name` and `engagement`, and the template's fields); see `campaigns/intake.py`."""
        return intake_campaign(self, content, recipients, campaign_id=campaign_id, expire_ok=expire_ok)

    def enqueue_many(self, items: Iterable[Message | dict[str, Any]]) -> list[Receipt]:
        """Validate every message first (nothing is published if one is invalid), then publish in
        pipelined batches. On a broker failure raise `BatchPartiallyPublished` naming what landed."""
        return self.publish_many(self.prepare_many(items))

    def publish_many(self, messages: list[Message]) -> list[Receipt]:
        """Publish messages `prepare_many` or `check_each` made ready, in pipelined batches."""
        places = [self.placement.take(m) for m in messages]  # each its place in the line, in order
        published: list[str] = []
        try:
            with self.app.producer_or_acquire() as producer:
                for start in range(0, len(messages), _BATCH):
                    chunk = messages[start : start + _BATCH]
                    with producer.batch(max_size=len(chunk) * 2 + 1):
                        for message in chunk:
                            self._publish(message, producer=producer)
                    published.extend(m.id for m in chunk)
        except (KombuError, RedisError, OSError) as exc:
            # A batch refused part way names the messages Redis took (guarded.CountedPublishBatch).
            landed = set(getattr(exc, "landed", ()))
            published.extend(m.id for m in messages[len(published):] if m.id in landed)
            done = set(published)
            unconfirmed = [m.id for m in messages if m.id not in done]
            raise BatchPartiallyPublished(
                mask_url(self.settings.effective_broker_url), exc, published, unconfirmed
            ) from None
        return [self.placement.receipt(m, place) for m, place in zip(messages, places)]

    def _publish(self, message: Message, producer: Any) -> None:
        args, kwargs = task_args(message)
        self.app.send_task(
            SEND_TASK,
            args=args,
            kwargs=kwargs,
            task_id=message.id,
            producer=producer,
            retry=True,
            retry_policy=_PUBLISH_RETRY,
            **publish_options(message, self.settings.compress_over_bytes),
        )

    def close(self) -> None:
        self.app.close()
        if self._redis is not None:
            self._redis.close()


_default: Producer | None = None
_default_lock = threading.Lock()


def default_producer() -> Producer:
    """A process-wide Producer built from the environment on first use (the app's edge)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Producer(load_settings())
        return _default


def enqueue(message: Message | dict[str, Any], producer: Producer | None = None) -> Receipt:
    return (producer or default_producer()).enqueue(message)


def enqueue_campaign(content: Any, recipients: Iterable[Any], producer: Producer | None = None, **options: Any) -> CampaignReceipt:
    return (producer or default_producer()).enqueue_campaign(content, recipients, **options)


def enqueue_many(messages: Iterable[Message | dict[str, Any]], producer: Producer | None = None) -> list[Receipt]:
    return (producer or default_producer()).enqueue_many(messages)
