"""The overflow route: how long a message may wait for the dedicated IP before it goes through the
overflow configuration set (SES's shared pool, or a pool of warm IPs). Plain policy, no storage.

`RAMP_OVERFLOW_AFTER_S="transactional=60,bulk=14400"`: each kind's wait in seconds, or `never`. The
gate reads one number per message, `overflow_at_ms`: when it may take the overflow route (-1: never).

Why these defaults:
- transactional, 60 s: a password reset or a receipt is useless an hour late. The dedicated IP gets
  transactional mail first anyway (its queue and its reserve), so only what the IP cannot carry within
  a minute (its cap, hour allowance or warm-up rate used) leaves by the shared pool.
- bulk, 4 h: long enough that the dedicated IP, paced over the day by its hour allowance, picks the
  most engaged bulk first from a morning's send (the queue's engagement order), short enough that a
  newsletter still arrives the same working day. The rest, the least engaged, goes by overflow.
"""

from __future__ import annotations

from collections.abc import Mapping

KINDS = ("transactional", "bulk")
DEFAULT_AFTER_S = "transactional=60,bulk=14400"
NEVER = "never"


def parse_after_s(text: str) -> dict[str, float | None]:
    """"transactional=60,bulk=never" -> {"transactional": 60.0, "bulk": None}. A kind not named keeps
    its default. Raises ValueError naming what is wrong."""
    out: dict[str, float | None] = {"transactional": 60.0, "bulk": 14400.0}
    seen: set[str] = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        kind, eq, value = (s.strip() for s in part.partition("="))
        if not eq or kind not in KINDS:
            raise ValueError(f"{part!r}: expected transactional=<seconds|never> or bulk=<seconds|never>")
        if kind in seen:
            raise ValueError(f"{kind} is given twice")
        seen.add(kind)
        if value.lower() == NEVER:
            out[kind] = None
            continue
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"{part!r}: the wait must be seconds (a number) or {NEVER}") from None
        if seconds < 0 or seconds != seconds:
            raise ValueError(f"{part!r}: the wait must be 0 seconds or more")
        out[kind] = seconds
    return out


def overflow_at_ms(after_s: Mapping[str, float | None], kind: str, created_ms: int, enabled: bool) -> int:
    """When a message of `kind` created at `created_ms` may leave by the overflow route; -1 never
    (overflow off, or `never` for its kind)."""
    wait_s = after_s.get(kind)
    if not enabled or wait_s is None:
        return -1
    return created_ms + int(wait_s * 1000)
