"""Side-by-side comparisons: A and B alternate (ABBA: A B, B A, A B, ...) so that neither always runs
first or on a warmer machine, at least 7 pairs, and the ratio of each pair is reported as
min / median / max. Nothing is extrapolated: every figure is a measurement of this run."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

MIN_PAIRS = 7


@dataclass
class Paired:
    a: list[float]
    b: list[float]

    @property
    def ratios(self) -> list[float]:
        """b / a per pair (with a the baseline: >1 means b is faster, for rates)."""
        return [b / a for a, b in zip(self.a, self.b)]

    def ratio_text(self) -> str:
        r = sorted(self.ratios)
        return f"{statistics.median(r):.2f}x (min {r[0]:.2f}, max {r[-1]:.2f}, {len(r)} pairs ABBA)"

    @property
    def a_median(self) -> float:
        return statistics.median(self.a)

    @property
    def b_median(self) -> float:
        return statistics.median(self.b)


def abba(run_a: Callable[[], float], run_b: Callable[[], float], pairs: int = MIN_PAIRS) -> Paired:
    out = Paired([], [])
    for i in range(pairs):
        if i % 2 == 0:
            out.a.append(run_a())
            out.b.append(run_b())
        else:
            out.b.append(run_b())
            out.a.append(run_a())
    return out
