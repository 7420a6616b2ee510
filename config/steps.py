"""The ramp's steps, counted one way: `Settings` (how many steps) and `schedule.py` (each step's cap) share it."""

from __future__ import annotations


def caps_between(start_per_day: int, target_per_day: int, multiplier: float) -> list[int]:
    """Cap (recipients/day) of every step; strictly increasing, first = start, last = target.
    The one definition of the ramp's steps: `Settings` counts them with it too."""
    caps = [start_per_day]
    while caps[-1] < target_per_day:
        nxt = min(target_per_day, round(start_per_day * multiplier ** len(caps)))
        caps.append(max(nxt, caps[-1] + 1))
    return caps
