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

from kombu.exceptions import BatchPublishError
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


class CountedPublishBatch(kombu_redis.PublishBatch):
    """kombu's publish batch, which also knows which of its messages Redis took when a flush fails.

    kombu's flush raises on the first refused command and the replies of the others are lost, so a
    batch refused part way (Redis at maxmemory answers OOM to some LPUSHes, not all) could only be
    reported as "nothing known". Here the pipeline's replies are read one by one: the error carries
    `landed`, the task ids whose every command Redis accepted (none when the connection itself failed).
    """

    def __init__(self, channel: Any, max_size: int) -> None:
        super().__init__(channel, max_size)
        self._owners: list[str] = []  # the task id of each buffered command, in pipeline order
        self._current = ""
        self.landed: list[str] = []

    def publish(self, message: Any, **kwargs: Any) -> Any:
        self._current = str((message.get("headers") or {}).get("id", ""))
        return super().publish(message, **kwargs)

    def add(self, name: str, *args: Any) -> None:
        super().add(name, *args)
        self._owners.append(self._current)

    def flush(self) -> None:
        self._check_usable()
        if not self._buffered:
            return
        owners = self._owners[: len(self.pipeline.command_stack)]
        self._owners = self._owners[len(owners):]
        try:
            replies = self.pipeline.execute(raise_on_error=False)
        except BaseException as exc:
            self._failed, self._buffered = exc, 0
            self.pipeline.reset()
            if isinstance(exc, Exception):
                raise _uncertain(exc, self.landed) from exc
            raise
        self._buffered = 0
        refused = {owner for owner, reply in zip(owners, replies) if isinstance(reply, Exception)}
        self.landed.extend(dict.fromkeys(o for o in owners if o not in refused))
        first = next((reply for reply in replies if isinstance(reply, Exception)), None)
        if first is not None:
            self._failed = first
            raise _uncertain(first, self.landed) from first


def _uncertain(cause: Exception, landed: list[str]) -> BatchPublishError:
    error = BatchPublishError(f"Redis publish batch failed part way: {cause}")
    error.landed = list(landed)  # type: ignore[attr-defined]
    return error


class _Counted:
    def create_publish_batch(self, max_size: int) -> CountedPublishBatch:
        return CountedPublishBatch(self, max_size)


class Channel(_Counted, kombu_redis.Channel):
    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        guard = GUARD.get()
        if guard is None or kwargs.get("_publish_batch") is not None or (self._expires and queue in self._expires):
            return super()._put(queue, message, **kwargs)
        key = self.global_keyprefix + self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        guard.answer = guard.script(keys=[key, *guard.set_keys], args=[dumps(message), *guard.addresses])
        return None


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelChannel(_Counted, kombu_redis.SentinelChannel):
    """Sentinel brokers: no guarded publish (the lists may live elsewhere), counted batches still."""


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel


def usable(broker_url: str, redis_url: str) -> bool:
    """The guarded publish needs the queues and the suppression lists in one Redis."""
    return broker_url == redis_url and broker_url.split("://", 1)[0] in ("redis", "rediss", "unix")


TRANSPORT = f"{__name__}:Transport"
SENTINEL_TRANSPORT = f"{__name__}:SentinelTransport"


def transport_for(broker_url: str) -> str | None:
    """This module's transport for a Redis broker URL (None: another broker, kombu's own)."""
    scheme = broker_url.split("://", 1)[0]
    return SENTINEL_TRANSPORT if scheme == "sentinel" else TRANSPORT if scheme in ("redis", "rediss", "unix") else None
