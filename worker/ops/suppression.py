"""The suppression list an operator edits: addresses never mailed again (normalised, in one Redis set)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from ses_ramp.producers.message import normalise_address

BATCH = 1000


def add(runtime, addresses: Iterable[str]) -> int:
    """Suppress `addresses`; returns how many were new."""
    normal = [normalise_address(a) for a in addresses]
    added = 0
    for i in range(0, len(normal), BATCH):
        added += runtime.client.sadd(runtime.budget.keys.suppressed, *normal[i : i + BATCH])
    return added


def remove(runtime, addresses: Iterable[str]) -> int:
    normal = [normalise_address(a) for a in addresses]
    return int(runtime.client.srem(runtime.budget.keys.suppressed, *normal)) if normal else 0


def listed(runtime) -> list[str]:
    return sorted(runtime.client.sscan_iter(runtime.budget.keys.suppressed, count=1000))


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


def import_text(runtime, text: str) -> tuple[int, int]:
    """Suppress every address in `text` (see `read_addresses`). Returns (read, newly suppressed)."""
    addresses = read_addresses(text)
    return len(addresses), add(runtime, addresses)


def sync_ses(runtime, sesv2) -> tuple[int, int]:
    """Import SES's account-level suppression list (`ListSuppressedDestinations`, every page) into ses-ramp's:
    SES drops mail to those addresses without sending it, so ses-ramp must neither send nor charge it.
    Returns (addresses SES lists, newly suppressed here)."""
    seen, added, token = 0, 0, None
    while True:
        page = sesv2.list_suppressed_destinations(**({"NextToken": token} if token else {}), PageSize=1000)
        addresses = [s["EmailAddress"] for s in page.get("SuppressedDestinationSummaries") or [] if s.get("EmailAddress")]
        seen += len(addresses)
        added += add(runtime, addresses) if addresses else 0
        token = page.get("NextToken")
        if not token:
            return seen, added

