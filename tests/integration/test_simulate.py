"""`ramp simulate` runs the real schedule, gate, sender and breaker in accelerated time."""

import json

from tests.helpers import ramp


def run(settings, *args):
    return json.loads(ramp(settings, "simulate", "--json", *args).stdout)


def test_simulation_is_deterministic_and_follows_the_plan(settings):
    a = run(settings, "--days", "8", "--daily-demand", "3000", "--seed", "3")
    b = run(settings, "--days", "8", "--daily-demand", "3000", "--seed", "3")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "date"} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)
    assert [r["cap"] for r in a][:2] == [50, 50] and a[0]["sent"] == 50
    assert all(r["sent"] <= r["cap"] for r in a)  # the application never exceeds the day's quota
    assert a[-1]["backlog"] > 0  # demand above the ramp piles up instead of being sent early


def test_a_dirty_list_on_day_three_steps_the_ramp_back(settings):
    rows = run(settings, "--days", "6", "--daily-demand", "3000", "--seed", "5", "--dirty-list-day", "3")
    day3, day4 = rows[2], rows[3]
    assert day3["bounce_rate"] >= 0.05
    assert day4["step"] < day3["step"] or day4["cap"] <= day3["cap"]
