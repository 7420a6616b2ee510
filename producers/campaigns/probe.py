"""A campaign's recipients split for a probe (`config/probe.py`): those ses-ramp knows (delivered to
within RAMP_KNOWN_RECIPIENT_DAYS, `producers/known.py`) flow as usual; when more than
RAMP_PROBE_NEW_RECIPIENTS are new, a random sample of the new ones goes first and the others are held."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ses_ramp.config.keys import Keys
from ses_ramp.config.probe import ProbePolicy, draw
from ses_ramp.producers import known
from ses_ramp.producers.campaigns.recipients import Recipient

_CHUNK = 50_000  # addresses per HMGET


@dataclass
class Split:
    flowing: list[Recipient]  # known recipients (all of them when there is no probe)
    sample: list[Recipient] = field(default_factory=list)
    held: list[Recipient] = field(default_factory=list)
    new: int = 0  # recipients ses-ramp has not delivered to in the window

    def meta(self, probe_state: str) -> dict[str, Any]:
        """The campaign hash's probe fields (none without a probe)."""
        if not self.sample:
            return {"new": self.new}
        return {"new": self.new, "probe": probe_state, "sample": len(self.sample), "held": len(self.held)}


def split(client: Any, keys: Keys, rows: list[Recipient], policy: ProbePolicy, seed: str, now_ms: int, window_days: int) -> Split:
    """`rows` (in sending order) as known, sample and held, each kept in that order."""
    flags: list[bool] = []
    for start in range(0, len(rows), _CHUNK):
        flags.extend(known.known(client, keys, [r.address for r in rows[start : start + _CHUNK]], now_ms, window_days))
    new = [r for r, is_known in zip(rows, flags) if not is_known]
    size = policy.sample_size(len(new))
    if not size:
        return Split(rows, new=len(new))
    picked = set(draw(len(new), size, seed))
    return Split([r for r, is_known in zip(rows, flags) if is_known], [r for i, r in enumerate(new) if i in picked],
                 [r for i, r in enumerate(new) if i not in picked], len(new))
