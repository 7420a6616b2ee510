"""A campaign's recipients: read (dicts or a CSV file), checked, and packed small for Redis.

A recipient is its address, an optional display name, an engagement (0..1, default 0.5) and merge
data (every other field). In Redis each waits as one packed JSON array, about 60 bytes for an
address and a first name: that, not a queued Celery message (about 1.2 KB of envelope), is what a
recipient costs until the feeder turns it into a message just ahead of the gate.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ses_ramp.producers.addresses import list_address
from ses_ramp.producers.errors import InvalidMessage

_ADDRESS_COLUMNS = ("email", "address", "to")
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str = ""
    engagement: float = 0.5
    merge: dict[str, Any] = field(default_factory=dict)

    def pack(self) -> str:
        return _encode([self.address, self.name, self.engagement, self.merge])


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # one encoder for a million rows


def unpack(raw: str | bytes) -> Recipient:
    address, name, engagement, merge = json.loads(raw)
    return Recipient(address, name, engagement, merge)


def recipient_from(item: Any, where: str) -> Recipient:
    """One recipient from a dict (or a Recipient); InvalidMessage naming `where` (item or line) on error."""
    if type(item) is dict and "email" in item and type(item["email"]) is str:
        fast = _plain_row(item)
        if fast is not None:
            return fast
    if isinstance(item, Recipient):
        data: dict[str, Any] = {"email": item.address, "name": item.name, "engagement": item.engagement, **item.merge}
    elif isinstance(item, dict):
        data = dict(item)
    else:
        raise InvalidMessage("recipients", f"{where}: a recipient is an object with an email, not {type(item).__name__}")
    raw = next((data.pop(c) for c in _ADDRESS_COLUMNS if c in data), None)
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidMessage("recipients", f"{where}: no address (give an email field)")
    try:
        address = list_address(raw)
    except ValueError as exc:
        raise InvalidMessage("recipients", f"{where}: {exc}") from None
    name = data.pop("name", "") or ""
    if not isinstance(name, str) or "\r" in name or "\n" in name:
        raise InvalidMessage("recipients", f"{where}: the name must be one line of text")
    engagement = data.pop("engagement", 0.5)
    try:
        engagement = round(float(engagement if engagement not in ("", None) else 0.5), 3)
    except (TypeError, ValueError):
        raise InvalidMessage("recipients", f"{where}: engagement {engagement!r} is not a number") from None
    if not 0.0 <= engagement <= 1.0:
        raise InvalidMessage("recipients", f"{where}: engagement {engagement} is outside 0..1")
    for key, value in data.items():
        if not isinstance(value, _SCALARS):
            raise InvalidMessage("recipients", f"{where}: merge field {key!r} must be text, a number, true/false or null")
    return Recipient(address, name, engagement, data)


def _plain_row(item: dict[str, Any]) -> Recipient | None:
    """The common row (a plain address, text fields, engagement a number in 0..1) without the general
    path's copies; None sends anything else through `recipient_from`'s every check."""
    merge = {k: v for k, v in item.items() if k not in _OWN}
    if any(type(v) is not str for v in merge.values()):
        return None
    name = item.get("name", "") or ""
    engagement = item.get("engagement", 0.5)
    if type(name) is not str or "\n" in name or "\r" in name or type(engagement) not in (int, float) or not 0 <= engagement <= 1:
        return None
    try:
        address = list_address(item["email"])
    except ValueError:
        return None
    return Recipient(address, name, round(float(engagement), 3), merge)


_OWN = frozenset({"email", "name", "engagement", "address", "to"})


def from_items(items: Iterable[Any]) -> Iterator[Recipient]:
    for i, item in enumerate(items, 1):
        yield recipient_from(item, f"recipient {i}")


def from_csv(path: Path) -> Iterator[Recipient]:
    """Recipients of a CSV file with a header row: an `email` column, optional `name` and
    `engagement`, every other column a merge field (text)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        yield from from_csv_text(handle, str(path))


def from_csv_text(handle: Iterable[str], where: str) -> Iterator[Recipient]:
    """`from_csv` of an open text stream (an HTTP upload); `where` names it in errors."""
    reader = csv.DictReader(handle)
    columns = reader.fieldnames or []
    if not any(c in columns for c in _ADDRESS_COLUMNS):
        raise InvalidMessage("recipients", f"{where}: the header row needs an email column (it has: {', '.join(columns) or 'nothing'})")
    for row in reader:
        if None in row:
            raise InvalidMessage("recipients", f"{where} line {reader.line_num}: more fields than the header has")
        yield recipient_from(row, f"{where} line {reader.line_num}")


def chunk(campaign_id: str, content: str, kind: str, first: int, created_at: str, rows: list[Recipient],
          probe: bool = False) -> dict[str, Any]:
    """Consecutive recipients `first`, `first + 1`, ... of a campaign as one task's argument (`probe`: of
    its probe's sample, whose SES events are counted for the campaign's verdict)."""
    return {"campaign": campaign_id, "content": content, "kind": kind, "first": first, "created_at": created_at,
            "recipients": [[r.address, r.name, r.engagement, r.merge] for r in rows], **({"probe": 1} if probe else {})}


def chunk_wires(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The wire message of each recipient of a chunk (what a single campaign message carries)."""
    campaign_id, first = data["campaign"], int(data["first"])
    return [{"id": f"{campaign_id}-{first + i}", "campaign": campaign_id, "content": data["content"], "seq": first + i,
             "to": [address], **({"name": name} if name else {}), **({"merge": merge} if merge else {}),
             "kind": data["kind"], "engagement": engagement, "created_at": data["created_at"],
             **({"probe": 1} if data.get("probe") else {})}
            for i, (address, name, engagement, merge) in enumerate(data["recipients"])]
