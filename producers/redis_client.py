"""A redis-py client for ses-ramp's own keys, built from `Settings` (TLS and passwords via the URL)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.typing import EncodableT, FieldT

from ses_ramp.config import Settings


def hash_fields(values: Mapping[str, str | int | float]) -> dict[FieldT, EncodableT]:
    """`values` as redis-py's `hset(mapping=...)` types them (its keys may be bytes, ours are text)."""
    return dict(values.items())


def text_hash(raw: Any) -> dict[str, str]:
    """A hash read by `redis_from_settings`' client (decode_responses: every field and value is text)."""
    return {str(k): str(v) for k, v in raw.items()}


def redis_from_settings(settings: Settings, **overrides) -> redis.Redis:
    """Client with short timeouts and reconnect-with-backoff, so a Redis restart is ridden out."""
    options = {
        "socket_connect_timeout": 5,
        "socket_timeout": 10,
        "health_check_interval": 30,
        "retry": Retry(ExponentialBackoff(cap=2, base=0.05), retries=8),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "decode_responses": True,
    }
    options.update(overrides)
    url = settings.effective_redis_url
    if url.startswith("sentinel://"):
        return _sentinel_master(url, settings.redis_sentinel_master or "", options)
    return redis.Redis.from_url(url, **options)


def _sentinel_master(url: str, master: str, options: dict) -> redis.Redis:
    """A client that asks the Sentinels where the master is, and asks again after a failover.

    `url` is kombu's form, `sentinel://[:password@]host:port[/db];sentinel://...`: the password and
    db are the master's (as kombu reads them), so the broker and this client agree."""
    from urllib.parse import urlsplit

    from redis.sentinel import Sentinel

    parts = [urlsplit(p) for p in url.split(";")]
    first = parts[0]
    db = int(first.path.strip("/") or 0)
    sentinels = Sentinel(
        [(p.hostname, p.port or 26379) for p in parts],
        sentinel_kwargs={"socket_connect_timeout": options["socket_connect_timeout"], "socket_timeout": options["socket_timeout"]},
    )
    return sentinels.master_for(master, redis_class=_SentinelMaster, db=db, password=first.password, **options)


class _SentinelMaster(redis.Redis):
    """Re-asks the Sentinels for the master at most every `recheck_s` (1 s). redis-py asks only when
    it opens a connection, and after a planned failover the old master accepts writes for seconds
    until the Sentinels demote it, then throws them away: quota charges and idempotency records
    written there would be lost. A changed answer drops the idle connections to the old one."""

    recheck_s = 1.0
    _checked_at = float("-inf")

    def execute_command(self, *args, **options):
        now = time.monotonic()
        if now - self._checked_at >= self.recheck_s:
            self._checked_at = now
            self.connection_pool.get_master_address()  # type: ignore[attr-defined]  # SentinelConnectionPool's
        return super().execute_command(*args, **options)
