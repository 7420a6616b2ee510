"""What every `ramp` command shares: the Typer app, the consoles, settings and a Redis runtime."""

from __future__ import annotations

import threading
from typing import NoReturn

import typer
from rich.console import Console

from ses_ramp.config import Settings, SettingsError, load_settings

# Plain help (rich_markup_mode=None): no type label after a flag, and it reads the same at 80 columns.
cli = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, help="ses-ramp: warm an SES dedicated IP safely.")
out = Console(soft_wrap=False)
err = Console(stderr=True, soft_wrap=True)  # an error is one line, however narrow the terminal
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


class Options:
    """Options of `ramp` itself (before the command), set by the app's callback."""

    embedded = False


@cli.callback()
def _top(embedded: bool = typer.Option(
    False, "--embedded",
    help="Without RAMP_REDIS_URL, use (and start if needed) this host's embedded redis-server: single-host use only.",
)) -> None:
    Options.embedded = embedded


def with_redis(settings: Settings) -> Settings:
    """Refuse to run without RAMP_REDIS_URL unless `ramp --embedded` asked for this host's embedded
    redis-server: two hosts that each started their own would each enforce the whole cap."""
    if not settings.uses_embedded_redis:
        return settings
    if not Options.embedded:
        fail("RAMP_REDIS_URL is not set: point it at the fleet's Redis (or run `ramp --embedded ...` on a single host)")
    from ses_ramp.worker.ops.embedded import ensure_embedded_redis

    started = ensure_embedded_redis(settings.embedded_redis_port, settings.embedded_redis_dir)
    err.print(f"using the embedded redis-server at {settings.effective_redis_url}"
              + (f" (started now; files in {settings.embedded_redis_dir})" if started else ""))
    return settings


def open_runtime(settings: Settings, transport=None, patient: bool = False):
    """Redis-backed runtime for an operator command (no SES calls unless a `transport` is given).
    `patient`: for the long-running services, which ride out a Redis restart."""
    from redis.exceptions import RedisError

    from ses_ramp.producers.redis_client import describe_redis_error
    from ses_ramp.worker.send.runtime import Runtime
    from ses_ramp.worker.send.transports.noop import NoopTransport

    runtime = Runtime.build(settings, transport=transport or NoopTransport(), prompt=not patient)
    try:
        runtime.ping()
    except RedisError as exc:
        fail(describe_redis_error(exc, settings.effective_redis_url), 3)
    return runtime


def ping_or_exit(settings: Settings) -> None:
    """One PING of the configured Redis; its failure is one line and exit 3."""
    from redis.exceptions import RedisError

    from ses_ramp.producers.redis_client import describe_redis_error, redis_from_settings

    try:
        redis_from_settings(settings, prompt=True).ping()
    except RedisError as exc:
        fail(describe_redis_error(exc, settings.effective_redis_url), 3)


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
