"""Every check a message passes before the queue: the message itself (`Message.parse`), its From, bulk's
one-click unsubscribe route, its size as MIME, a bulk expiry the forecast says it would miss, and its
recipients against the global suppression list and their lists' unsubscribes (one round trip a batch)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import redis
from redis.exceptions import RedisError

from ses_ramp.config import Settings, mask_url
from ses_ramp.producers import forecast
from ses_ramp.producers.errors import InvalidMessage, QueueUnavailable, SuppressedRecipient, Unsubscribed
from ses_ramp.producers.message import Kind, Message, normalise_address
from ses_ramp.producers.mime import build_mime, size_upper_bound
from ses_ramp.producers.placement import Placement
from ses_ramp.producers.redis_client import describe_redis_error
from ses_ramp.producers.suppression import suppression_state
from ses_ramp.producers.unsubscribe import needs_route, suppression_lists


class Screening:
    def __init__(self, settings: Settings, client: Callable[[], redis.Redis], placement: Placement) -> None:
        self.settings, self.client, self.placement = settings, client, placement

    def prepare_many(self, items: Iterable[Message | dict[str, Any]]) -> list[Message]:
        """Validate every item; one Redis round trip checks all recipients against suppression."""
        messages = [self.validate(item) for item in items]
        hits, unsubscribed = self.lookups(messages)
        messages = [self.without_suppressed(m, hits) for m in messages] if hits else messages
        if unsubscribed:
            raise unsubscribed[min(unsubscribed)]
        return messages

    def check_each(self, items: list[Any]) -> list[Message | InvalidMessage]:
        """Validate every item on its own, exactly as `prepare_many` does, and return for each either
        its ready Message or the error that refuses it."""
        out: list[Message | InvalidMessage] = []
        for item in items:
            try:
                out.append(self.validate(item))
            except InvalidMessage as exc:
                out.append(exc)
        ready = [(i, m) for i, m in enumerate(out) if isinstance(m, Message)]
        hits, unsubscribed = self.lookups([m for _, m in ready])
        for j, (i, m) in enumerate(ready):
            try:
                if j in unsubscribed:
                    raise unsubscribed[j]
                out[i] = self.without_suppressed(m, hits) if hits else m
            except InvalidMessage as exc:
                out[i] = exc
        return out

    def validate(self, data: Message | dict[str, Any]) -> Message:
        """Every check of one message except suppression (which needs its recipients' lists)."""
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
                goes_on = self.placement.send_date(message)
            except forecast.ForecastUnavailable:
                return message  # no forecast to judge by: the worker still dead-letters it if it expires first
            expires_on = self.placement.expires_on(message)
            if goes_on is None or goes_on > expires_on:
                when = goes_on.isoformat() if goes_on else f"more than {forecast.HORIZON_DAYS} days from now"
                raise InvalidMessage("expires_at", f"it expires on {expires_on} but would go out on {when} at the current "
                                                   "ramp (`ramp forecast`); shorten the queue, or set expire_ok to accept it anyway")
        return message

    def _check_unsubscribe_route(self, message: Message) -> None:
        """Bulk mail leaves with a one-click unsubscribe route, or not at all (Gmail and Yahoo defer or
        reject bulk mail without one, which during a warm-up reads as the IP's fault)."""
        if not needs_route(message):
            return  # the app's own List-Unsubscribe headers, or SES's list management
        if message.list_id is None:
            raise InvalidMessage("list", "bulk mail needs a list (List-Id and one-click unsubscribe), SES list management "
                                         "(list_management), or its own List-Unsubscribe and List-Unsubscribe-Post headers")
        if self.settings.unsubscribe_base_url is None or self.settings.unsubscribe_secret is None:
            raise InvalidMessage("list", "one-click unsubscribe needs RAMP_UNSUBSCRIBE_BASE_URL and RAMP_UNSUBSCRIBE_SECRET "
                                         "(or give the message its own List-Unsubscribe and List-Unsubscribe-Post headers)")

    def lookups(self, messages: list[Message]) -> tuple[set[str], dict[int, Unsubscribed]]:
        """The recipients on the global suppression list, and index -> refusal for each bulk message
        whose recipient unsubscribed from its list: one Redis round trip for the whole batch."""
        wanted = [(i, list_id, m.recipients) for i, m in enumerate(messages) if m.kind is Kind.bulk for list_id in suppression_lists(m)]
        try:
            hits, found = suppression_state(self.client(), self.settings, [a for m in messages for a in m.recipients],
                                            [(list_id, rcpts) for _, list_id, rcpts in wanted])
        except RedisError as exc:
            raise QueueUnavailable(mask_url(self.settings.effective_redis_url), exc,
                                   describe_redis_error(exc, self.settings.effective_redis_url)) from None
        refused: dict[int, Unsubscribed] = {}
        for (i, list_id, _), unsub in zip(wanted, found):
            if unsub and i not in refused:
                refused[i] = Unsubscribed(list_id, sorted(unsub))
        return hits, refused

    def without_suppressed(self, message: Message, hits: set[str]) -> Message:
        hits = hits & {normalise_address(a) for a in message.recipients}
        if not hits:
            return message
        if not self.settings.drop_suppressed_recipients:
            raise SuppressedRecipient("to", sorted(hits))
        keep = {f: [a for a in getattr(message, f) if normalise_address(a) not in hits] for f in ("to", "cc", "bcc")}
        if not any(keep.values()):
            raise SuppressedRecipient("to", sorted(hits))
        return message.model_copy(update=keep)
