"""Publishing messages: `enqueue` for one, `enqueue_many` (pipelined) for campaigns.

Publishes by task name, so the app needs no worker code. Every refusal happens before the queue.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple

import redis
from celery import Celery
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from ses_ramp.config import Settings, load_settings, mask_url
from ses_ramp.config.keys import Keys
from ses_ramp.producers import forecast, guarded
from ses_ramp.producers.errors import (
    BatchPartiallyPublished,
    InvalidMessage,
    QueueUnavailable,
    SuppressedRecipient,
    Unsubscribed,
)
from ses_ramp.producers.message import Kind, Message, normalise_address
from ses_ramp.producers.mime import build_mime, size_upper_bound
from ses_ramp.producers.redis_client import describe_redis_error
from ses_ramp.producers.unsubscribe import suppression_lists
from ses_ramp.producers.wire import SEND_TASK, celery_config, priority_for, publish_options, task_args

if TYPE_CHECKING:
    from ses_ramp.producers.campaigns.intake import CampaignReceipt

#: Fail fast when the broker is down instead of blocking the app (kombu's default retries for ~1 s).
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.25, "interval_max": 0.5}
_BATCH = 500


class _Place(NamedTuple):
    on: date | None  # the estimated send date; None beyond the forecast's horizon or when not known
    known: bool  # False: the forecast could not be read


@dataclass(frozen=True)
class Receipt:
    """Proof that a message is on the queue."""

    id: str
    idempotency_key: str
    kind: str
    recipients: int
    #: The day it should go out at the current ramp (`ramp forecast`'s model), ISO; None beyond 400 days.
    estimated_send_date: str | None = None


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
        self._estimator: forecast.Estimator | None = None
        self._keys = Keys(settings.key_prefix)
        self._lock = threading.Lock()

    # -- validation ----------------------------------------------------------------------------
    def prepare(self, data: Message | dict[str, Any]) -> Message:
        """Validate `data` into a ready-to-publish Message or raise `InvalidMessage`."""
        return self.prepare_many([data])[0]

    def prepare_many(self, items: Iterable[Message | dict[str, Any]]) -> list[Message]:
        """Validate every item; one Redis round trip checks all recipients against suppression."""
        messages = [self._validate(item) for item in items]
        hits, unsubscribed = self._lookups(messages)
        messages = [self._without_suppressed(m, hits) for m in messages] if hits else messages
        if unsubscribed:
            raise unsubscribed[min(unsubscribed)]
        return messages

    def validate(self, data: Message | dict[str, Any]) -> Message:
        """Every check `enqueue` makes of one message except suppression (which needs its recipients' lists)."""
        return self._validate(data)

    def _validate(self, data: Message | dict[str, Any]) -> Message:
        message = Message.parse(data)
        if message.from_address is None:
            if self.settings.from_address is None:
                raise InvalidMessage("from", "no From address and RAMP_FROM_ADDRESS is not set")
            message = message.model_copy(update={"from_address": str(self.settings.from_address),
                                                 "from_name": message.from_name or self.settings.from_name})
        if message.kind is Kind.bulk:
            self._check_unsubscribe_route(message)
        limit = self.settings.max_message_bytes
        # Building the MIME costs ~0.4 ms: only do it when a cheap upper bound says it could matter.
        if size_upper_bound(message) > limit:
            size = len(build_mime(message, message.formatted_from()))
            if size > limit:
                raise InvalidMessage("size", f"{size} bytes as MIME; the limit is {limit} (RAMP_MAX_MESSAGE_BYTES)")
        if message.kind is Kind.bulk and message.expires_at is not None and not message.expire_ok:
            try:
                goes_on = self._send_date(message)
            except forecast.ForecastUnavailable:
                return message  # no forecast to judge by: the worker still dead-letters it if it expires first
            expires_on = self._expires_on(message)
            if goes_on is None or goes_on > expires_on:
                when = goes_on.isoformat() if goes_on else f"more than {forecast.HORIZON_DAYS} days from now"
                raise InvalidMessage("expires_at", f"it expires on {expires_on} but would go out on {when} at the current "
                                                   "ramp (`ramp forecast`); shorten the queue, or set expire_ok to accept it anyway")
        return message

    # -- the forecast --------------------------------------------------------------------------------
    def _send_date(self, message: Message, take: bool = False) -> date | None:
        """Its estimated send date (None: beyond the forecast's horizon); `take` puts it in this
        producer's line. Raises `forecast.ForecastUnavailable` when the forecast cannot be read."""
        return self._estimate(message.kind, priority_for(message.kind, message.engagement), message.recipient_count, take)

    def _estimate(self, kind: Kind, priority: int, recipients: int, take: bool) -> date | None:
        client = self._redis_client()
        with self._lock:
            if self._estimator is None:
                self._estimator = forecast.Estimator(self.settings, client)
        try:
            return self._estimator.estimate(kind.value, priority, recipients, take=take)
        except RedisError as exc:
            raise QueueUnavailable(mask_url(self.settings.effective_redis_url), exc,
                                   describe_redis_error(exc, self.settings.effective_redis_url)) from None

    def _take_group_place(self, kind: Kind, priority: int, recipients: int) -> tuple[date | None, date | None] | None:
        """A campaign's recipients of one priority take their places in line: the first's and the
        last's dates, or None when the forecast cannot be read (the estimate is advisory)."""
        try:
            first = self._estimate(kind, priority, 1, take=False)
            return first, self._estimate(kind, priority, recipients, take=True)
        except forecast.ForecastUnavailable:
            return None

    def _give_back_place(self, kind: Kind, priority: int, recipients: int) -> None:
        if self._estimator is not None:
            self._estimator.give_back(kind.value, priority, recipients)

    def now_ms(self) -> int:
        """Now on the scripts' clock: Redis TIME plus the clock offset tests and `ramp simulate` move."""
        with self._redis_client().pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.get(self._keys.clock_offset_ms)
            (secs, micros), offset = pipe.execute()
        return int(secs) * 1000 + int(micros) // 1000 + int(offset or 0)

    def _take_place(self, message: Message) -> _Place:
        """Just before publishing: its place in the line, and so its date. The estimate is advisory:
        an unreadable forecast gives no date, never a refusal or a lost message."""
        try:
            return _Place(self._send_date(message, take=True), known=True)
        except forecast.ForecastUnavailable:
            return _Place(None, known=False)

    def _give_back(self, message: Message) -> None:
        """A message that took its place and was refused after all leaves the line."""
        if self._estimator is not None:
            self._estimator.give_back(message.kind.value, priority_for(message.kind, message.engagement), message.recipient_count)

    def _expires_on(self, message: Message) -> date:
        from zoneinfo import ZoneInfo

        assert message.expires_at is not None
        return message.expires_at.astimezone(ZoneInfo(self.settings.day_timezone)).date()

    def _receipt(self, message: Message, place: _Place) -> Receipt:
        """The receipt of a published message, with its estimated send date."""
        if message.expire_ok and message.expires_at is not None and place.known and (
                place.on is None or place.on > self._expires_on(message)):
            self._redis_client().incr(self._keys.expire_ok)
        return Receipt(message.id, message.idempotency_key or message.id, message.kind.value, message.recipient_count,
                       place.on.isoformat() if place.on else None)

    def _check_unsubscribe_route(self, message: Message) -> None:
        """Bulk mail leaves with a one-click unsubscribe route, or not at all (Gmail and Yahoo defer or
        reject bulk mail without one, which during a warm-up reads as the IP's fault)."""
        from ses_ramp.producers.unsubscribe import needs_route

        if not needs_route(message):
            return  # the app's own List-Unsubscribe headers, or SES's list management
        if message.list_id is None:
            raise InvalidMessage("list", "bulk mail needs a list (List-Id and one-click unsubscribe), SES list management "
                                         "(list_management), or its own List-Unsubscribe and List-Unsubscribe-Post headers")
        if self.settings.unsubscribe_base_url is None or self.settings.unsubscribe_secret is None:
            raise InvalidMessage("list", "one-click unsubscribe needs RAMP_UNSUBSCRIBE_BASE_URL and RAMP_UNSUBSCRIBE_SECRET "
                                         "(or give the message its own List-Unsubscribe and List-Unsubscribe-Post headers)")

    def _lookups(self, messages: list[Message]) -> tuple[set[str], dict[int, Unsubscribed]]:
        """The recipients on the global suppression list, and index -> refusal for each bulk message
        whose recipient unsubscribed from its list: one Redis round trip for the whole batch."""
        from ses_ramp.producers.suppression import suppression_state
        from ses_ramp.producers.unsubscribe import suppression_lists

        wanted = [(i, list_id, m.recipients) for i, m in enumerate(messages) if m.kind is Kind.bulk for list_id in suppression_lists(m)]
        try:
            hits, found = suppression_state(self._redis_client(), self.settings, [a for m in messages for a in m.recipients],
                                            [(list_id, rcpts) for _, list_id, rcpts in wanted])
        except RedisError as exc:
            raise QueueUnavailable(mask_url(self.settings.effective_redis_url), exc,
                                   describe_redis_error(exc, self.settings.effective_redis_url)) from None
        refused: dict[int, Unsubscribed] = {}
        for (i, list_id, _), unsub in zip(wanted, found):
            if unsub and i not in refused:
                refused[i] = Unsubscribed(list_id, sorted(unsub))
        return hits, refused

    def _without_suppressed(self, message: Message, hits: set[str]) -> Message:
        hits = hits & {normalise_address(a) for a in message.recipients}
        if not hits:
            return message
        if not self.settings.drop_suppressed_recipients:
            raise SuppressedRecipient("to", sorted(hits))
        keep = {f: [a for a in getattr(message, f) if normalise_address(a) not in hits] for f in ("to", "cc", "bcc")}
        if not any(keep.values()):
            raise SuppressedRecipient("to", sorted(hits))
        return message.model_copy(update=keep)

    def redis_client(self) -> redis.Redis:
        """This producer's Redis client (suppression lists, the HTTP door's status)."""
        return self._redis_client()

    def _redis_client(self):
        with self._lock:
            if self._redis is None:
                from ses_ramp.producers.redis_client import redis_from_settings

                self._redis = redis_from_settings(self.settings, prompt=True)
            return self._redis

    # -- publishing --------------------------------------------------------------------------------
    def enqueue(self, data: Message | dict[str, Any]) -> Receipt:
        """Validate and publish one message; return its receipt. Where it can, the suppression check
        rides on the publish (one round trip, `guarded.py`); a message it stops is then refused (or
        trimmed, with RAMP_DROP_SUPPRESSED_RECIPIENTS) exactly as `prepare` would."""
        if not self._guarded:
            return self._publish_one(self.prepare(data))
        message = self._validate(data)
        place = self._take_place(message)
        guard = guarded.Guard(self._guard_script(), self._set_keys(message), [normalise_address(a) for a in message.recipients])
        token = guarded.GUARD.set(guard)
        try:
            self._send(message)
        finally:
            guarded.GUARD.reset(token)
        if guard.answer is None:  # never so with this transport: the publish went unchecked, say so loudly
            raise RuntimeError("the guarded publish did not run: the message was published without its suppression check")
        if int(guard.answer[0]) == 0:
            return self._receipt(message, place)
        self._give_back(message)
        return self._publish_one(self.prepare(message))  # refused: the full check says why (or trims)

    def _publish_one(self, message: Message) -> Receipt:
        place = self._take_place(message)
        self._send(message)
        return self._receipt(message, place)

    def _send(self, message: Message) -> None:
        try:
            self._publish(message, producer=None)
        except (KombuError, RedisError, OSError) as exc:
            raise QueueUnavailable(mask_url(self.settings.effective_broker_url), exc) from None

    def _guard_script(self) -> Any:
        if self._script is None:
            self._script = self._redis_client().register_script(guarded.SOURCE)
        return self._script

    def _set_keys(self, message: Message) -> list[str]:
        lists = suppression_lists(message) if message.kind is Kind.bulk else []
        return [self._keys.suppressed, *(self._keys.unsubscribed(list_id) for list_id in lists)]

    def enqueue_campaign(self, content: Any, recipients: Iterable[Any], *, campaign_id: str | None = None,
                         expire_ok: bool = False) -> CampaignReceipt:
        """Store `content` once and queue one small message per recipient (dicts with `email`, optional
        `name` and `engagement`, and the template's fields); see `campaigns/intake.py`."""
        from ses_ramp.producers.campaigns.intake import enqueue_campaign

        return enqueue_campaign(self, content, recipients, campaign_id=campaign_id, expire_ok=expire_ok)

    def enqueue_many(self, items: Iterable[Message | dict[str, Any]]) -> list[Receipt]:
        """Validate every message first (nothing is published if one is invalid), then publish in
        pipelined batches. On a broker failure raise `BatchPartiallyPublished` naming what landed."""
        return self.publish_many(self.prepare_many(items))

    def check_each(self, items: list[Any]) -> list[Message | InvalidMessage]:
        """Validate every item on its own, exactly as `prepare_many` does, and return for each either
        its ready Message or the error that refuses it (the HTTP door reports one error per item).
        Raises `QueueUnavailable` when the suppression lists cannot be read."""
        out: list[Message | InvalidMessage] = []
        for item in items:
            try:
                out.append(self._validate(item))
            except InvalidMessage as exc:
                out.append(exc)
        ready = [(i, m) for i, m in enumerate(out) if isinstance(m, Message)]
        hits, unsubscribed = self._lookups([m for _, m in ready])
        for j, (i, m) in enumerate(ready):
            try:
                if j in unsubscribed:
                    raise unsubscribed[j]
                out[i] = self._without_suppressed(m, hits) if hits else m
            except InvalidMessage as exc:
                out[i] = exc
        return out

    def publish_many(self, messages: list[Message]) -> list[Receipt]:
        """Publish messages `prepare_many` or `check_each` made ready, in pipelined batches."""
        places = [self._take_place(m) for m in messages]  # each its place in the line, in order
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
        return [self._receipt(m, place) for m, place in zip(messages, places)]

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
