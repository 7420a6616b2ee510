"""Gmail's Postmaster Tools reports in Redis (`keys.gmail`), by the day they describe: stored by the reader
(`fleet/postmaster.py`), judged by the next roll-over (`dayroll.py`, policy in `config/gmail_reports.py`).

A report counts once: it is stored with the time it arrived, and the roll-over judges only those that
arrived after the last roll-over that judged any (`applied_ms`). A report read again unchanged keeps its
arrival time, so it is never judged twice; a day whose figures changed arrives again."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from ses_ramp.config.gmail_reports import GmailDay
from ses_ramp.config.keys import Keys

STATUS = "status"
APPLIED = "applied_ms"


def store(client: Any, keys: Keys, report: GmailDay, now_ms: int) -> bool:
    """Keep `report` (one with data); True when it is new or its figures changed."""
    field = f"day:{report.domain}:{report.on.isoformat()}"
    old = client.hget(keys.gmail, field)
    if old and json.loads(old)["report"] == report.to_json():
        return False
    client.hset(keys.gmail, field, json.dumps({"report": report.to_json(), "received_ms": now_ms}))
    return True


def reports(raw: dict[str, str]) -> list[tuple[GmailDay, int]]:
    """Every stored report with its arrival time, oldest day first (`raw`: the hash as read)."""
    stored = [json.loads(v) for f, v in raw.items() if f.startswith("day:")]
    out = [(GmailDay.from_json(d["report"]), int(d["received_ms"])) for d in stored]
    return sorted(out, key=lambda r: (r[0].on, r[0].domain))


def pending(raw: dict[str, str]) -> list[GmailDay]:
    """The reports that arrived since the last roll-over judged any."""
    applied = int(raw.get(APPLIED, 0))
    return [r for r, received in reports(raw) if received > applied]


def set_status(client: Any, keys: Keys, ok: bool, line: str, now_ms: int) -> None:
    client.hset(keys.gmail, STATUS, json.dumps({"ok": ok, "line": line, "at_ms": now_ms}))


def status(raw: dict[str, str]) -> dict[str, Any] | None:
    return json.loads(raw[STATUS]) if raw.get(STATUS) else None


def forget_before(client: Any, keys: Keys, cutoff: date) -> int:
    """Drop the reports of days before `cutoff` (the hash stays small); returns how many."""
    old = [f for f in client.hkeys(keys.gmail) if f.startswith("day:") and f.rsplit(":", 1)[1] < cutoff.isoformat()]
    return int(client.hdel(keys.gmail, *old)) if old else 0

