"""Operator actions behind the CLI: flush/restore parked mail, probation preset, suppression import."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from typing import Any

from ses_ramp.config.keys import Keys
from ses_ramp.producers.message import normalise_address
from ses_ramp.producers.wire import PRIORITY_STEPS

def flush(runtime, kind: str) -> dict[str, int]:
    """Move `kind`'s queued and deferred messages to `parked:<kind>`, each move atomic (LMOVE for the
    queue lists, one Lua call for the deferred set), so a crash mid-flush leaves every message in
    exactly one place. Returns counts."""
    client, keys = runtime.client, runtime.budget.keys
    parked = keys.parked(kind)
    moved_queue = 0
    # Highest priority first, and within a list kombu pops from the right: RIGHT->RIGHT keeps order.
    for name in keys.queue_lists(kind, PRIORITY_STEPS):
        while client.lmove(name, parked, "RIGHT", "RIGHT") is not None:
            moved_queue += 1
    s = runtime.budget.scripts
    moved_deferred = int(s.park_deferred(keys=[keys.clock_offset_ms, keys.deferred, keys.payload, parked], args=[kind]))
    return {"queued": moved_queue, "deferred": moved_deferred, "parked_total": client.llen(parked)}


def parked_messages(client, keys: Keys, kind: str) -> list[dict[str, Any]]:
    """Wire messages of the parked entries, oldest first."""
    return [_wire_of(json.loads(raw)) for raw in client.lrange(keys.parked(kind), 0, -1)]


def _wire_of(entry: dict[str, Any]) -> dict[str, Any]:
    """The message inside a parked entry: a deferred entry, or a raw kombu message from a queue."""
    if "deferred" in entry:
        return entry["deferred"]["message"]
    import base64

    body = entry["body"]
    if entry.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args, _kwargs, _embed = json.loads(body)
    return args[0]


def pop_parked(client, keys: Keys, kind: str) -> dict[str, Any] | None:
    raw = client.lpop(keys.parked(kind))
    return None if raw is None else _wire_of(json.loads(raw))


def is_expired(wire: dict[str, Any]) -> bool:
    exp = wire.get("expires_at")
    if not exp:
        return False
    return datetime.fromisoformat(exp.replace("Z", "+00:00")) <= datetime.now(timezone.utc)


def read_addresses(text: str) -> list[str]:
    """Addresses from CSV (first column holding an @, header allowed) or one per line."""
    out = []
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            cell = cell.strip()
            if "@" in cell:
                out.append(normalise_address(cell))
                break
    return out


