"""Each message's place in the line, and so the day it should go out (`ramp forecast`'s model): taken just
before publishing, given back when a publish is refused, and written on the receipt. The estimate is
advisory: an unreadable forecast gives no date, never a refusal or a lost message."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple
from zoneinfo import ZoneInfo

import redis
from redis.exceptions import RedisError

from ses_ramp.config import Settings, mask_url
from ses_ramp.config.keys import Keys
from ses_ramp.producers import forecast
from ses_ramp.producers.errors import QueueUnavailable
from ses_ramp.producers.message import Kind, Message
from ses_ramp.producers.redis_client import describe_redis_error
from ses_ramp.producers.wire import priority_for


class Place(NamedTuple):
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


class Placement:
    """One producer's line: the forecast's estimator, read from Redis on first use."""

    def __init__(self, settings: Settings, keys: Keys, client: Callable[[], redis.Redis]) -> None:
        self.settings, self.keys, self.client = settings, keys, client
        self._estimator: forecast.Estimator | None = None
        self._lock = threading.Lock()

    def send_date(self, message: Message, take: bool = False) -> date | None:
        """Its estimated send date (None: beyond the forecast's horizon); `take` puts it in this
        producer's line. Raises `forecast.ForecastUnavailable` when the forecast cannot be read."""
        return self.estimate(message.kind, priority_for(message.kind, message.engagement), message.recipient_count, take)

    def estimate(self, kind: Kind, priority: int, recipients: int, take: bool) -> date | None:
        client = self.client()
        with self._lock:
            if self._estimator is None:
                self._estimator = forecast.Estimator(self.settings, client)
        try:
            return self._estimator.estimate(kind.value, priority, recipients, take=take)
        except RedisError as exc:
            raise QueueUnavailable(mask_url(self.settings.effective_redis_url), exc,
                                   describe_redis_error(exc, self.settings.effective_redis_url)) from None

    def take_group(self, kind: Kind, priority: int, recipients: int) -> tuple[date | None, date | None] | None:
        """A campaign's recipients of one priority take their places in line: the first's and the
        last's dates, or None when the forecast cannot be read (the estimate is advisory)."""
        try:
            first = self.estimate(kind, priority, 1, take=False)
            return first, self.estimate(kind, priority, recipients, take=True)
        except forecast.ForecastUnavailable:
            return None

    def give_back_group(self, kind: Kind, priority: int, recipients: int) -> None:
        if self._estimator is not None:
            self._estimator.give_back(kind.value, priority, recipients)

    def take(self, message: Message) -> Place:
        """Just before publishing: its place in the line, and so its date."""
        try:
            return Place(self.send_date(message, take=True), known=True)
        except forecast.ForecastUnavailable:
            return Place(None, known=False)

    def give_back(self, message: Message) -> None:
        """A message that took its place and was refused after all leaves the line."""
        self.give_back_group(message.kind, priority_for(message.kind, message.engagement), message.recipient_count)

    def expires_on(self, message: Message) -> date:
        assert message.expires_at is not None
        return message.expires_at.astimezone(ZoneInfo(self.settings.day_timezone)).date()

    def receipt(self, message: Message, place: Place) -> Receipt:
        """The receipt of a published message, with its estimated send date (an expire_ok message that
        will expire first is counted)."""
        if message.expire_ok and message.expires_at is not None and place.known and (
                place.on is None or place.on > self.expires_on(message)):
            self.client().incr(self.keys.expire_ok)
        return Receipt(message.id, message.idempotency_key or message.id, message.kind.value, message.recipient_count,
                       place.on.isoformat() if place.on else None)
