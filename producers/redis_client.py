"""A redis-py client for ses-ramp's own keys, built from `Settings` (TLS and passwords via the URL)."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from ses_ramp.config import Settings


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
    return redis.Redis.from_url(settings.effective_redis_url, **options)
