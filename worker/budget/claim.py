"""What one delivery claimed: made before the gate call, completed with the day the gate reserved on, and
carried to settle (and into an unconfirmed record, which the reconciler settles later). One small record
instead of the same six arguments at every call."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Claim:
    kind: str  # "transactional" | "bulk"
    n: int  # recipients charged
    key: str  # the idempotency key
    token: str  # this delivery's claim token (the gate stores it; settle settles only that claim)
    providers: str = ""  # recipients per provider as charged, "google=2,other=1"
    day: str = ""  # the day the gate reserved on; "" while nothing is reserved

    def on(self, day: str) -> Claim:
        """The same claim, reserved on `day`."""
        return replace(self, day=day)

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Claim:
        return cls(str(record["kind"]), int(record["n"]), str(record["key"]), str(record["token"]),
                   str(record.get("providers") or ""), str(record.get("day") or ""))
