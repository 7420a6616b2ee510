"""One-by-one enqueue in one Redis round trip: kombu's Redis transport, with the publish of a message
made conditional on its recipients not being suppressed (`publish_unless_suppressed.lua`).

`Producer.enqueue` sets a `Guard` (the addresses and the suppression sets to check) for the duration
of its `send_task`; this transport's `_put` then runs the script instead of a bare LPUSH. Without a
guard (batches, Celery's own messages) it is kombu's `_put` unchanged. Used only when the broker is
the Redis that holds the suppression lists (same URL, not Sentinel); otherwise enqueue reads the
lists first, in a round trip of their own.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps


@dataclass
class Guard:
    script: Any  # redis-py's Script for publish_unless_suppressed.lua, bound to the suppression lists' client
    set_keys: list[str]  # suppressed first, then one unsubscribed:<list> set per list
    addresses: list[str]  # normalised
    answer: list[Any] | None = None  # the script's reply, once it ran


GUARD: ContextVar[Guard | None] = ContextVar("ses_ramp_publish_guard", default=None)
SOURCE = files("ses_ramp.producers").joinpath("publish_unless_suppressed.lua").read_text()


class Channel(kombu_redis.Channel):
    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        guard = GUARD.get()
        if guard is None or kwargs.get("_publish_batch") is not None or (self._expires and queue in self._expires):
            return super()._put(queue, message, **kwargs)
        key = self.global_keyprefix + self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        guard.answer = guard.script(keys=[key, *guard.set_keys], args=[dumps(message), *guard.addresses])
        return None


class Transport(kombu_redis.Transport):
    Channel = Channel


def usable(broker_url: str, redis_url: str) -> bool:
    """The guarded publish needs the queues and the suppression lists in one Redis."""
    return broker_url == redis_url and broker_url.split("://", 1)[0] in ("redis", "rediss", "unix")


TRANSPORT = f"{__name__}:Transport"
