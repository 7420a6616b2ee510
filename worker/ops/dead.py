"""Dead letters an operator retries: validated and suppression-checked again, attempts reset."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ses_ramp.producers import ProducerError


@dataclass
class RetryReport:
    done: int = 0
    kept: list[tuple[str, str]] = field(default_factory=list)  # (message id, why it stays dead)


def dead_entries(runtime) -> list[dict[str, Any]]:
    return runtime.deferrals.dead_entries()


def retry_dead(runtime, producer, ids: list[str] | None) -> RetryReport:
    """Re-enqueue the dead letters `ids` (None: all of them). A refused retry puts its entry back
    untouched: retrying never loses a dead letter."""
    report = RetryReport()
    if ids is None:
        ids = [e["message"]["id"] for e in runtime.deferrals.dead_entries()]
    for mid in ids:
        entry = runtime.deferrals.take_dead(mid)
        if entry is None:
            report.kept.append((mid, "no such dead letter"))
            continue
        try:
            producer.enqueue(entry["message"])
            report.done += 1
        except ProducerError as exc:
            runtime.client.hset(runtime.budget.keys.dead, mid, json.dumps(entry))
            report.kept.append((mid, str(exc)))
    return report


def purge_dead(runtime, older_than_s: float) -> int:
    """`ramp dead purge`: delete dead letters older than `older_than_s` (0: all of them)."""
    return runtime.deferrals.purge_dead(runtime.budget.now_ms() - int(older_than_s * 1000) + (1 if older_than_s == 0 else 0))

