"""The arithmetic both the gate's caller and the day roll-over share: a day's window in its time zone, and
what is left of SES's 24-hour quota."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def day_window(now_ms: int, zone: str) -> tuple[date, int, int]:
    """Local date of `now_ms` in `zone`, and that day's [start_ms, end_ms) in epoch ms (DST-aware)."""
    tz = ZoneInfo(zone)
    today = datetime.fromtimestamp(now_ms / 1000, tz).date()
    start = datetime.combine(today, time(0), tz)
    end = datetime.combine(today + timedelta(days=1), time(0), tz)
    return today, int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def account_left(account: dict[str, Any]) -> int:
    """Max24HourSend - SentLast24Hours, or -1 when unknown or unlimited (SES reports -1)."""
    if not account or float(account.get("max_24h", -1)) < 0:
        return -1
    return max(0, int(float(account["max_24h"]) - float(account["sent_24h"])))
