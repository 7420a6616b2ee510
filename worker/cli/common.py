"""What every `ramp` command shares: the Typer app, the consoles, settings and a Redis runtime."""

from __future__ import annotations

import threading
from typing import NoReturn

import typer
from rich.console import Console

from ses_ramp.config import Settings, SettingsError, load_settings

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="ses-ramp: warm an SES dedicated IP safely.")
out = Console()
err = Console(stderr=True)
KINDS = ("transactional", "bulk")


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit with `code` (2: bad input or settings, 3: a service unreachable)."""
    err.print(f"[red]ses-ramp:[/red] {message}")
    raise typer.Exit(code)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc))


def with_redis(settings: Settings) -> Settings:
    """Start the embedded redis-server when no RAMP_REDIS_URL is configured (its URL is the one
    `Settings.effective_redis_url` already names, so every process of this host finds it)."""
    if settings.uses_embedded_redis:
        from ses_ramp.worker.ops.embedded import ensure_embedded_redis

        ensure_embedded_redis(settings.embedded_redis_port, settings.embedded_redis_dir)
    return settings


def open_runtime(settings: Settings, transport=None):
    """Redis-backed runtime for an operator command (no SES calls unless a `transport` is given)."""
    from redis.exceptions import RedisError

    from ses_ramp.config import mask_url
    from ses_ramp.worker.runtime import Runtime
    from ses_ramp.worker.send.transports.noop import NoopTransport

    runtime = Runtime.build(settings, transport=transport or NoopTransport())
    try:
        runtime.ping()
    except RedisError as exc:
        fail(f"Redis unavailable at {mask_url(settings.effective_redis_url)}: {exc}", 3)
    return runtime


def runtime_from_env():
    """The usual start of an operator command: settings, the embedded Redis if configured so, a runtime."""
    return open_runtime(with_redis(settings_or_exit()))


def kind_or_exit(kind: str) -> str:
    if kind not in KINDS:
        fail(f"kind must be transactional or bulk, not {kind!r}")
    return kind


def stop_on_signals() -> threading.Event:
    """A `threading.Event` set by SIGTERM or SIGINT: long-running commands stop warm on it."""
    import signal

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
