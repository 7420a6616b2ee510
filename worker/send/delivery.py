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
from typing import Any

import structlog
from kombu.transport import redis as kombu_redis

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


class Channel(_OneClient, kombu_redis.Channel):
    QoS = QoS


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelChannel(_OneClient, kombu_redis.SentinelChannel):
    QoS = QoS


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel


def transport_for(broker_url: str) -> str:
    """The `broker_transport` a worker uses for `broker_url` (a kombu class path)."""
    name = "SentinelTransport" if broker_url.startswith("sentinel://") else "Transport"
    return f"{__name__}:{name}"
