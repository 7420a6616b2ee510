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
    try:
        cli()
    except SettingsError as exc:  # raised by an import-time edge such as the Celery app module
        err.print(f"[red]ses-ramp:[/red] {exc}")
        sys.exit(2)


__all__ = ["cli", "main"]
