"""The `ramp simulate` scenario table (docs/guides/operating.md): `python -m bench.scenarios` runs each scenario with the
real `ramp simulate --json` (two at a time, each on its own throw-away embedded Redis) and prints the
table from what those runs returned. Nothing here is estimated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

TARGET = 50_000
SCENARIOS: list[tuple[str, list[str]]] = [
    ("default: consumer, 1.5x", []),
    ("`--multiplier 2.0`", ["--multiplier", "2.0"]),
    ("`--multiplier 2.0 --tolerance 1.2`", ["--multiplier", "2.0", "--tolerance", "1.2"]),
    ("`--profile b2b` (1.2x, strict receivers)", ["--profile", "b2b"]),
    ("`--dirty-list-day 3 --no-probe`: the list sent as it is", ["--dirty-list-day", "3", "--no-probe"]),
    ("`--dirty-list-day 3`: the list probed first (the default)", ["--dirty-list-day", "3"]),
    ("`--slow-provider-day 20`", ["--slow-provider-day", "20"]),
    ("`--slow-provider microsoft --slow-provider-day 16 --slow-days 7`",
     ["--slow-provider", "microsoft", "--slow-provider-day", "16", "--slow-days", "7"]),
    ("`--complaint-rate 0.0006`", ["--complaint-rate", "0.0006"]),
    ("Gmail users report 0.2% as spam: `--gmail-spam-rate 0.002`", ["--gmail-spam-rate", "0.002"]),
    ("`--overflow` (the default with RAMP_OVERFLOW_CONFIGURATION_SET)", ["--overflow"]),
]
OVERFLOW = SCENARIOS[-1][0]


def run(args: list[str]) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}  # the embedded default, never a real Redis
    done = subprocess.run([str(Path(sys.executable).parent / "ramp"), "simulate", "--json", *args], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One scenario's row of the table, from its simulated days."""
    sent = sum(r["sent"] for r in rows)
    overflow = sum(r.get("overflow", 0) for r in rows)
    delayed = sum(r["delayed"] for r in rows)
    reached = next((r["day"] for r in rows if r["sent"] >= TARGET), None)
    held = [r["day"] for r in rows if r["verdict"] in ("hold", "unsettled", "no_events")]
    back = [r["day"] for r in rows if r["verdict"] == "step_back"]
    acted = [r for r in rows if r["breaker"] != "ok"]
    last = rows[-1].get("steps") or {}
    others = sorted(v for p, v in last.items() if p != "google")
    return {
        "steps": (f"{last['google'] + 1} / {others[0] + 1}" + (f"-{others[-1] + 1}" if others[-1] != others[0] else "")
                  if "google" in last and others else "-"),
        "reached": f"day {reached}" if reached else f"no (cap {rows[-1]['cap']:,} on day {rows[-1]['day']})",
        "sent": sent, "overflow": overflow, "overflow_share": overflow / (sent + overflow) if sent + overflow else 0.0,
        "delayed": delayed, "delayed_share": delayed / sent if sent else 0.0, "backlog": rows[-1]["backlog"],
        "held": held, "back": back,
        "breaker": "never" if not acted else f"{len(acted)} day(s) from day {acted[0]['day']}: {acted[0]['breaker']}",
    }


def days_list(days: list[int]) -> str:
    if not days:
        return "none"
    return ", ".join(map(str, days[:6])) + (f" (+{len(days) - 6})" if len(days) > 6 else "")


def row(name: str, r: dict[str, Any]) -> str:
    overflow = f"{r['overflow']:,} ({r['overflow_share']:.1%})" if r["overflow"] else "off"
    return (f"| {name} | {r['reached']} | {r['sent']:,} | {overflow} | {r['delayed']:,} ({r['delayed_share']:.1%}) | {r['backlog']:,} "
            f"| {days_list(r['held'])} | {days_list(r['back'])} | {r['steps']} | {r['breaker']} |")


def weeks(rows: list[dict[str, Any]]) -> list[str]:
    """The overflow scenario by week: the dedicated IP's schedule (its cap and what it sent), what the
    overflow route carried, its share of the week, and the backlog at the week's end."""
    out = ["| week | dedicated cap (last day) | sent by the dedicated IP | sent by overflow | overflow share | backlog at week's end |",
           "|---|---|---|---|---|---|"]
    for start in range(0, len(rows), 7):
        week = rows[start:start + 7]
        dedicated, overflow = sum(r["sent"] for r in week), sum(r.get("overflow", 0) for r in week)
        share = overflow / (dedicated + overflow) if dedicated + overflow else 0.0
        out.append(f"| {start // 7 + 1} (days {week[0]['day']}-{week[-1]['day']}) | {week[-1]['cap']:,} | {dedicated:,} | {overflow:,} "
                   f"| {share:.1%} | {week[-1]['backlog']:,} |")
    return out


def main() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda sc: run(sc[1]), SCENARIOS))
    print("| scenario | 50,000/day reached | sent in 45 days (dedicated IP) | sent by overflow (share) | delayed by receivers (share) "
          "| backlog on day 45 | days held | days stepped back | step on day 45: google / the others | breaker |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (name, _), rows in zip(SCENARIOS, runs):
        print(row(name, summary(rows)))
    print()
    print("\n".join(weeks(runs[-1])))


if __name__ == "__main__":
    main()
