"""`ramp`: the operator's command line. Each command parses, calls one plain function, and renders.

The commands live by theme: `sending` (worker, enqueue, demo), `controls` (pause, resume, flush,
restore, probation), `lists` (dead letters, suppression), `services` (events, beat, health, setup),
`plans` (schedule, simulate, status).
"""

from __future__ import annotations

import sys

from ses_ramp.config import SettingsError
from ses_ramp.worker.cli import controls, lists, plans, sending, services  # noqa: F401 - each registers its commands
from ses_ramp.worker.cli.common import cli, err


def main() -> None:
    """Run `ramp`. A configuration or connection problem ends in one line, never a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError
    from redis.exceptions import RedisError

    from ses_ramp.producers import ProducerError

    try:
        cli()
    except SettingsError as exc:  # raised by an import-time edge such as the Celery app module
        err.print(f"[red]ses-ramp:[/red] {exc}")
        sys.exit(2)
    except RedisError as exc:
        from ses_ramp.config import load_settings
        from ses_ramp.producers.redis_client import describe_redis_error

        err.print(f"[red]ses-ramp:[/red] {describe_redis_error(exc, load_settings().effective_redis_url)}")
        sys.exit(3)
    except ProducerError as exc:
        err.print(f"[red]ses-ramp:[/red] {exc}")
        sys.exit(2 if isinstance(exc, ValueError) else 3)
    except (BotoCoreError, ClientError) as exc:
        err.print(f"[red]ses-ramp:[/red] AWS: {exc}")
        sys.exit(3)


__all__ = ["cli", "main"]
