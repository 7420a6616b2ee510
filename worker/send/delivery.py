"""kombu's Redis transport, with a delivery step that cannot silently drop a message.

kombu takes a message off its queue list with BRPOP and only then records it in its `unacked` hash
(ZADD + HSET, one MULTI/EXEC) before handing it to Celery. Between those two round trips the message
exists only in this worker's memory: if Redis goes away in that window, kombu's record fails, the
consumer restarts, and the message is in neither the list nor `unacked`: lost (the 1-in-7 failure of
`test_redis_restart_mid_drain_workers_reconnect_and_finish`). The window is one round trip (well
under a millisecond on a LAN) per delivery, so only a Redis outage that begins inside it can hit it.

This QoS closes it: a record that fails on a connection error is retried, with back-off, until Redis
answers again (for up to `RECORD_RETRY_S`); the message is then in `unacked` as usual and delivered.
What remains: a worker stopped (SIGTERM, SIGKILL) while it waits here for Redis to come back, or an
outage longer than `RECORD_RETRY_S`, still loses that one message; it is logged as `delivery_lost`
with its id, so it is not silent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from redis.exceptions import ResponseError

from ses_ramp.producers.redis_client import describe_refusal

#: (raw body, where it was read, why it cannot be handled) -> None: keeps it as a dead letter. The
#: worker's app passes it in (broker transport option `unreadable_sink`, and `app.ramp_unreadable`).
UnreadableSink = Callable[[str, str, str], None]

log = structlog.get_logger(logger_name="ses_ramp.delivery")

RECORD_RETRY_S = 120.0


class QoS(kombu_redis.QoS):
    def append(self, message: Any, delivery_tag: Any) -> None:
        deadline = time.monotonic() + RECORD_RETRY_S
        delay_s = 0.05
        attempt = 0
        try:
            while True:
                try:
                    super().append(message, delivery_tag)
                    if attempt:
                        log.warning("delivery_recorded_after_outage", task_id=_task_id(message), attempts=attempt + 1)
                    return
                except ResponseError as exc:
                    # A refusal (OOM at maxmemory, NOREPLICAS, READONLY): Redis is there and the message
                    # is in this process only. Wait for Redis to take it, however long: dropping it or
                    # giving up would lose it. One line says why, then one a minute.
                    if attempt % 60 == 0:
                        log.error("delivery_waiting_for_redis", task_id=_task_id(message), error=describe_refusal(exc))
                    attempt += 1
                    time.sleep(1.0)
                except self.channel.connection_errors:
                    attempt += 1
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(delay_s)
                    delay_s = min(1.0, delay_s * 2)
        except BaseException:
            if attempt:  # it was taken off its list and never recorded: say so, with its id
                log.critical("delivery_lost", task_id=_task_id(message), attempts=attempt,
                             why="taken off the queue, and Redis did not come back before the worker gave up or stopped")
            raise


    def _remove_from_indices(self, delivery_tag: Any, pipe: Any = None) -> Any:
        # An ack is a ZREM and an HDEL, which kombu sends in a MULTI; Redis refuses a MULTI at
        # maxmemory, the ack fails ("Couldn't ack"), and the worker's only prefetch slot stays taken:
        # it stops consuming for good. Removals are allowed at maxmemory outside a MULTI, so they go
        # in a plain pipeline (a crash between the two leaves an index-less record, never a resend).
        if pipe is not None:
            return super()._remove_from_indices(delivery_tag, pipe)
        with self.channel.conn_or_acquire() as client:
            return client.pipeline(transaction=False).zrem(self.unacked_index_key, delivery_tag).hdel(self.unacked_key, delivery_tag)

    def restore_visible(self, *args: Any, **kwargs: Any) -> Any:
        # kombu restores messages whose worker died; its lock write is refused at maxmemory, and the
        # error would stop the worker from starting at all. The restore runs again on the next cycle.
        try:
            return super().restore_visible(*args, **kwargs)
        except ResponseError as exc:
            log.error("restore_visible_refused", error=describe_refusal(exc))
            return None


def _task_id(message: Any) -> str | None:
    try:
        return message.headers.get("id")
    except AttributeError:
        return None


class _OneClient:
    """kombu builds a new redis-py client for every `conn_or_acquire` (each ack, each unacked record:
    several per message), and a client's constructor fills a dict of ~200 response callbacks: about 7%
    of a worker's main process in a drain (py-spy). A client holds no connection of its own (it takes
    one from the pool per command, thread-safely), so one per channel and pool does the same work."""

    _sync_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        pool = self.pool  # type: ignore[attr-defined]
        if self._sync_client is None or self._sync_client.connection_pool is not pool:  # a new pool (reconnect, fork)
            self._sync_client = super()._create_client(asynchronous=False)  # type: ignore[misc]
        return self._sync_client


class _DeadLetterUnreadable:
    """kombu decodes a queue entry as JSON as it takes it off the list (`_brpop_read`); an entry that is
    not JSON raises out of the event loop and Celery exits ("Unrecoverable error: JSONDecodeError"),
    once per such entry, until the supervisor gives up. Here it is dead-lettered with its raw text and
    consumption goes on."""

    unreadable_sink: UnreadableSink | None = None

    def _brpop_read(self, **options: Any) -> bool:
        this: Any = self
        try:
            try:
                dest__item = this.client.parse_response(this.client.connection, "BRPOP", **options)
            except this.connection_errors:
                this.client.connection.disconnect()  # as kombu: the next iteration reconnects
                raise
            if not dest__item:
                raise kombu_redis.Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(this.sep, 1)[0]
            this._queue_cycle.rotate(dest)
            try:
                payload = loads(bytes_to_str(item))
            except (TypeError, ValueError, UnicodeDecodeError) as exc:
                _keep_unreadable(self.unreadable_sink, item, dest, f"unreadable queue entry (not JSON: {exc})")
                return True
            this.connection._deliver(payload, dest)
            return True
        finally:
            this._in_poll = None
            this._flush_brpop_reauth()


def _keep_unreadable(sink: UnreadableSink | None, item: Any, where: str, why: str) -> None:
    raw = item.decode("utf-8", "backslashreplace") if isinstance(item, bytes) else str(item)
    try:
        if sink is None:
            raise RuntimeError("no dead-letter sink configured")
        sink(raw, where, why)
        log.error("unreadable_dead_lettered", queue=where, why=why)
    except Exception as exc:  # noqa: BLE001 - the log line is then the only place it is kept: never silent
        log.critical("unreadable_lost", queue=where, why=why, error=str(exc), raw=raw[:4096])


class _SizeWithoutMulti:
    """kombu sizes a queue (on every declare, so at every worker start) with LLENs in a MULTI, and
    Redis refuses a MULTI at maxmemory: the worker could not start until memory was freed. A plain
    pipeline reads the same lengths and is answered under memory pressure too."""

    def _size(self, queue: str) -> int:
        this: Any = self
        with this.conn_or_acquire() as client:
            with client.pipeline(transaction=False) as pipe:
                for pri in this.priority_steps:
                    pipe.llen(this._q_for_pri(queue, pri))
                sizes = pipe.execute()
        return sum(size for size in sizes if isinstance(size, int))


_FROM_OPTIONS = (*kombu_redis.Channel.from_transport_options, "unreadable_sink")


class Channel(_DeadLetterUnreadable, _SizeWithoutMulti, _OneClient, kombu_redis.Channel):
    QoS = QoS
    from_transport_options = _FROM_OPTIONS  # type: ignore[assignment]


#: Redis refusing a write (OOM at maxmemory, NOREPLICAS, READONLY, or either inside a script) is, for
#: the consumer, like a lost connection: Celery then reconnects with back-off and carries on once Redis
#: takes writes again, where it would otherwise exit ("Unrecoverable error") and the fleet stop.
_REFUSALS_AS_CONNECTION_ERRORS = (ResponseError,)


class Transport(kombu_redis.Transport):
    Channel = Channel
    connection_errors = (*kombu_redis.Transport.connection_errors, *_REFUSALS_AS_CONNECTION_ERRORS)


class SentinelChannel(_DeadLetterUnreadable, _SizeWithoutMulti, _OneClient, kombu_redis.SentinelChannel):
    QoS = QoS
    from_transport_options = (*kombu_redis.SentinelChannel.from_transport_options, "unreadable_sink")  # type: ignore[assignment]


class Consumer(CeleryConsumer):
    """Celery acks, with a log line only, a message it cannot decode, refuses for its content type
    (any content type but JSON, which accept_content allows alone), or cannot route to a task. Each is kept as a
    dead letter with its reason instead, then acked."""

    def _keep(self, message: Any, why: str) -> None:
        where = (getattr(message, "delivery_info", None) or {}).get("routing_key", "")
        headers = getattr(message, "headers", None) or {}
        detail = f"{why} (content type {getattr(message, 'content_type', '?')}, task {headers.get('task', '?')})"
        _keep_unreadable(getattr(self.app, "ramp_unreadable", None), getattr(message, "body", b""), where, detail)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._keep(message, f"undecodable message: {exc}")
        message.ack()

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._keep(message, f"refused message: {exc}")
        message.reject_log_error(self.app.log.get_default_logger(), self.connection_errors)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._keep(message, "not a task message")
        message.reject_log_error(self.app.log.get_default_logger(), self.connection_errors)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._keep(message, f"unknown task: {exc}")
        message.reject_log_error(self.app.log.get_default_logger(), self.connection_errors)


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel
    connection_errors = (*kombu_redis.SentinelTransport.connection_errors, *_REFUSALS_AS_CONNECTION_ERRORS)


def transport_for(broker_url: str) -> str:
    """The `broker_transport` a worker uses for `broker_url` (a kombu class path)."""
    name = "SentinelTransport" if broker_url.startswith("sentinel://") else "Transport"
    return f"{__name__}:{name}"
