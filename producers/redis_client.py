"""A redis-py client for ses-ramp's own keys, built from `Settings` (TLS and passwords via the URL)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, AuthorizationError
from redis.retry import Retry
from redis.typing import EncodableT, FieldT

from ses_ramp.config import Settings


def hash_fields(values: Mapping[str, str | int | float]) -> dict[FieldT, EncodableT]:
    """`values` as redis-py's `hset(mapping=...)` types them (its keys may be bytes, ours are text)."""
    return dict(values.items())


def text_hash(raw: Any) -> dict[str, str]:
    """A hash read by `redis_from_settings`' client (decode_responses: every field and value is text)."""
    return {str(k): str(v) for k, v in raw.items()}


class _Retry(Retry):
    """Reconnect with back-off on a lost connection, never on a refused password: retrying a
    wrong password only delays the one line that says so."""

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):
        def retryable(error: Exception) -> bool:
            if isinstance(error, AuthenticationError | AuthorizationError):
                return False
            return is_retryable(error) if is_retryable else True

        return super().call_with_retry(do, fail, retryable, with_failure_count)


#: Workers ride out a Redis restart (about 10 s of reconnects); operator commands and producers answer
#: at once (an unreachable Redis within about 2 s, a TLS handshake that cannot succeed within 3 s).
PATIENT = {"socket_connect_timeout": 5, "socket_timeout": 10, "retry": _Retry(ExponentialBackoff(cap=2, base=0.05), retries=8),
           "retry_on_error": [redis.ConnectionError, redis.TimeoutError]}
# A prompt client retries a dropped connection once, never a timeout (a TLS handshake with a
# plain-text server times out; trying again only doubles the wait).
PROMPT = {"socket_connect_timeout": 1.0, "socket_timeout": 2.5,
          "retry": _Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1, supported_errors=(redis.ConnectionError,)),
          "retry_on_error": [redis.ConnectionError]}


def redis_from_settings(settings: Settings, *, prompt: bool = False, **overrides: Any) -> redis.Redis:
    """Client with short timeouts and reconnect-with-backoff. `prompt`: fail within seconds (CLI,
    producers) instead of riding out a restart (workers)."""
    options: dict[str, Any] = {
        **(PROMPT if prompt else PATIENT),
        "health_check_interval": 30,
        "decode_responses": True,
    }
    options.update(overrides)
    url = settings.effective_redis_url
    if url.startswith("sentinel://"):
        return _sentinel_master(url, settings.redis_sentinel_master or "", options)
    return redis.Redis.from_url(url, **options)


def describe_redis_error(exc: BaseException, url: str) -> str:
    """One line naming what is wrong with the Redis at `url` (password masked) and the likely fix."""
    from ses_ramp.config import mask_url

    where = mask_url(url)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, AuthenticationError | AuthorizationError) or "WRONGPASS" in text or "NOAUTH" in text:
        return f"Redis at {where} refused the credentials: check the password in RAMP_REDIS_URL ({text})"
    if url.startswith("rediss://") and (isinstance(exc, redis.TimeoutError) or "SSL" in text or "ssl" in text):
        return (f"Redis at {where}: the TLS handshake did not complete ({text}); is it a plain-text Redis? "
                "Use redis:// for a server without TLS")
    if isinstance(exc, redis.exceptions.OutOfMemoryError | redis.exceptions.ReadOnlyError) or text.upper().startswith(tuple(REFUSALS)):
        return f"Redis at {where}: {describe_refusal(exc)}"
    if isinstance(exc, redis.TimeoutError):
        return f"Redis at {where} did not answer in time ({text})"
    if isinstance(exc, redis.ConnectionError):
        return f"Redis unreachable at {where}: {text}"
    return f"Redis at {where}: {text}"


#: Redis answers that mean "I am here but will not take this write": the data is fine, the message
#: must wait, and sending resumes by itself once the cause is gone. redis-py strips the "OOM" and
#: "READONLY" codes into exception types; NOREPLICAS and MISCONF stay in a ResponseError's text.
REFUSALS = {
    "NOREPLICAS": "Redis refused the write: not enough replicas (min-replicas-to-write)",
    "MISCONF": "Redis refused the write: it cannot persist (MISCONF)",
}


def describe_refusal(exc: BaseException) -> str:
    """One line for a Redis error met while sending: a refusal named with its cause, else the error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return "Redis out of memory (maxmemory reached): free memory or raise maxmemory; sending resumes by itself"
    if isinstance(exc, redis.exceptions.ReadOnlyError):
        return "Redis refused the write: this node is a read-only replica (a failover in progress?)"
    for code, why in REFUSALS.items():
        if text.upper().startswith(code):
            return f"{why}: {text}"
    return f"Redis unavailable: {text}"


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
