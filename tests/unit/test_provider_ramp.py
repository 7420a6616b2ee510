"""The per-provider ramp's policy: the mix, shares, caps and verdicts (pure code)."""

from datetime import date

import pytest

from ses_ramp.config import provider_ramp, schedule
from ses_ramp.config.provider_ramp import MIN_SHARE, PROVIDERS
from ses_ramp.config.schedule import DayReport, RampState, ScheduleConfig

DAY = date(2027, 1, 4)


def test_a_mix_is_read_normalised_and_names_what_is_wrong():
    mix = provider_ramp.parse_mix("google=0.5, microsoft=0.3,yahoo=0.1,other=0.1")
    assert mix == pytest.approx({"google": 0.5, "microsoft": 0.3, "yahoo": 0.1, "apple": 0.0, "other": 0.1})
    assert sum(provider_ramp.parse_mix("google=0.33,microsoft=0.33,other=0.33").values()) == pytest.approx(1.0)  # rounding: normalised
    for bad, says in (("google=0.2,other=0.1", "add up to 0.30, not 1"), ("google=0.5,google=0.5", "named twice"),
                      ("google=2,microsoft=2", "add up to 4.00"),("gmail=0.5", "provider one of"), ("google=lots", "must be a number"), ("google=-1", "0 or more"), ("google=nan", "0 or more"),
                      ("google=0", "above 0"), ("google", "provider=share")):
        with pytest.raises(ValueError, match=says):
            provider_ramp.parse_mix(bad)


def test_a_held_providers_share_does_not_shrink_with_its_held_volume():
    mix = provider_ramp.parse_mix("google=0.5,microsoft=0.3,yahoo=0.1,apple=0.05,other=0.05")
    # Microsoft was held: its mail sent far less than its declared share.
    seen = {"google": 900, "microsoft": 50, "yahoo": 100, "apple": 50, "other": 50}
    shares = provider_ramp.shares(mix, seen)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["microsoft"] == pytest.approx(0.3 / sum(max(mix[p], seen[p] / 1150) for p in PROVIDERS))
    # Where the observed share is higher than declared, it wins (google: 900/1150 > 0.5).
    assert shares["google"] > shares["microsoft"] and shares["google"] > 0.5 / 1.5


def test_a_provider_the_mix_left_out_still_gets_a_little_of_the_day():
    shares = provider_ramp.shares(provider_ramp.parse_mix("google=1"), {})
    assert shares["apple"] == pytest.approx(MIN_SHARE / (1 + 4 * MIN_SHARE)) and shares["apple"] > 0


def test_a_providers_cap_is_its_share_of_its_own_steps_cap_with_headroom():
    cfg = ScheduleConfig.of(start_per_day=100, target_per_day=1600, multiplier=2.0, days=5)
    plan, cap = provider_ramp.plan_and_cap(cfg, RampState(step=2), share=0.3, scale=1.0, headroom=1.25)
    assert (plan, cap) == (120, 150)  # 0.3 x 400 = 120, x 1.25 = 150
    plan, cap = provider_ramp.plan_and_cap(cfg, RampState(step=2), share=0.3, scale=0.5, headroom=1.25)  # probation halves the day
    assert (plan, cap) == (60, 75)


def _report(sent, delays=0, bounces=0, plan=None):
    return DayReport(on=DAY, cap=plan or sent, sent=sent, event_sends=sent, delivered=sent - delays - bounces,
                     reputation_delays=delays, bounces=bounces)


def test_a_microsoft_deferral_spike_holds_microsoft_and_not_the_others():
    cfg = ScheduleConfig.of(start_per_day=100, target_per_day=1600, multiplier=2.0, days=5, min_events=1)
    per = {"google": _report(400), "microsoft": _report(300, delays=60), "yahoo": _report(200), "apple": _report(100),
           "other": _report(0, plan=10)}
    whole = DayReport(on=DAY, cap=1000, sent=1000, event_sends=1000, delivered=940, reputation_delays=60)
    assert schedule.verdict(cfg, whole) == "advance"  # 6% overall: under the warn level anyway
    overall = provider_ramp.overall_report(whole, per, min_sends=100)
    assert overall.deferral_rate == 0  # microsoft answers for its own delays
    v = schedule.verdict(cfg, overall)
    assert v == "advance"
    states = {p: RampState(step=1) for p in PROVIDERS}
    moved = {p: provider_ramp.close_provider_day(cfg, states[p], per[p], v, min_sends=100) for p in PROVIDERS}
    assert moved["microsoft"] == (RampState(step=1, sending_days=1, last_sending_date=DAY), "hold")  # 20% delayed
    assert moved["google"][0].step == 2 and moved["google"][1] == "advance"
    # `other` sent nothing: too little to be judged alone, it follows the overall verdict.
    assert moved["other"][1] == "advance" and moved["other"][0].step == 2


def test_a_small_provider_follows_the_overall_verdict_and_its_delays_count_in_it():
    cfg = ScheduleConfig.of(start_per_day=100, target_per_day=1600, multiplier=2.0, days=5, min_events=1)
    per = {p: _report(0) for p in PROVIDERS} | {"apple": _report(20, delays=10), "google": _report(180)}
    whole = DayReport(on=DAY, cap=200, sent=200, event_sends=200, delivered=190, reputation_delays=10)
    overall = provider_ramp.overall_report(whole, per, min_sends=100)
    # google (180 sends) answers for itself; apple (20) does not: its 10 delays over the 20 not judged alone.
    assert overall.deferral_rate == pytest.approx(10 / 20)
    v = schedule.verdict(cfg, overall)
    assert v == "step_back"
    state, pv = provider_ramp.close_provider_day(cfg, RampState(step=2), per["apple"], v, min_sends=100)
    assert pv == "step_back" and state.step == 1
    state, pv = provider_ramp.close_provider_day(cfg, RampState(step=2), per["google"], v, min_sends=100)
    assert pv == "advance"


def test_a_cool_down_drops_each_provider_like_the_whole_ramp():
    cfg = ScheduleConfig.of(cooldown_keep_share=0.5)
    assert provider_ramp.cool_down(cfg, RampState(step=7, days_at_step=2)) == RampState(step=3, days_at_step=0)
