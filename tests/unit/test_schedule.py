from datetime import date, timedelta

from hypothesis import given, settings as hsettings, strategies as st

from ses_ramp.config import Settings
from ses_ramp.worker import schedule
from ses_ramp.worker.schedule import DayReport, RampState, ScheduleConfig


def test_seed_defaults_consumer_and_b2b():
    consumer = ScheduleConfig.from_settings(Settings(_env_file=None))
    b2b = ScheduleConfig.from_settings(Settings(_env_file=None, warmup_profile="b2b"))
    assert consumer.multiplier == 1.5 and b2b.multiplier == 1.2
    for cfg in (consumer, b2b):
        days = schedule.plan(cfg)
        assert days[0].cap == 50 and days[-1].cap == 50_000
        assert 30 <= len(days) <= 45


@st.composite
def configs(draw):
    multiplier = draw(st.floats(min_value=1.2, max_value=2.0))
    start = draw(st.integers(min_value=10, max_value=500))
    target = draw(st.integers(min_value=start * 20, max_value=200_000))
    cfg = ScheduleConfig(start_per_day=start, target_per_day=target, multiplier=multiplier, days=45)
    steps = len(schedule.step_caps(cfg))
    days = draw(st.integers(min_value=max(30, steps), max_value=45)) if steps <= 45 else steps
    return ScheduleConfig(start_per_day=start, target_per_day=target, multiplier=multiplier, days=days)


@given(configs())
@hsettings(max_examples=200, deadline=None)
def test_plan_properties(cfg):
    days = schedule.plan(cfg)
    caps = schedule.step_caps(cfg)
    assert days[0].cap == cfg.start_per_day
    assert days[-1].cap == cfg.target_per_day
    if len(caps) <= 45:
        assert len(days) == cfg.days and 30 <= len(days) <= 45
    for a, b in zip(days, days[1:]):
        assert b.cap >= a.cap  # never decreasing on the healthy path
        assert b.cumulative == a.cumulative + b.cap
    # Every step multiplies by the profile's multiplier (rounded to whole recipients); the last may clip.
    for i in range(len(caps) - 2):
        assert abs(caps[i + 1] - caps[i] * cfg.multiplier) <= (1 + cfg.multiplier) / 2 + 1
    assert caps[-1] <= round(caps[-2] * cfg.multiplier) + 1


def _healthy(cfg, state, on):
    cap = schedule.cap_for(cfg, state)
    return DayReport(on=on, cap=cap, sent=cap)


def test_healthy_days_walk_the_plan_exactly():
    cfg = ScheduleConfig()
    state, on = RampState(), date(2026, 1, 1)
    caps = []
    for _ in range(len(schedule.plan(cfg))):
        caps.append(schedule.cap_for(cfg, state))
        state, verdict = schedule.close_day(cfg, state, _healthy(cfg, state, on))
        assert verdict == "advance"
        on += timedelta(days=1)
    assert caps == [d.cap for d in schedule.plan(cfg)]


def test_underused_day_holds_and_bad_day_steps_back():
    cfg = ScheduleConfig()
    state = RampState(step=5, days_at_step=1)
    cap = schedule.cap_for(cfg, state)
    held, v = schedule.close_day(cfg, state, DayReport(on=date(2026, 1, 1), cap=cap, sent=int(cap * 0.5)))
    assert v == "hold" and held.step == 5 and held.days_at_step == 1 and held.sending_days == 1
    warn, v = schedule.close_day(cfg, state, DayReport(on=date(2026, 1, 1), cap=cap, sent=cap, bounces=int(cap * 0.03)))
    assert v == "hold" and warn.step == 5
    back, v = schedule.close_day(cfg, state, DayReport(on=date(2026, 1, 1), cap=cap, sent=cap, deferred=cap))
    assert v == "step_back" and back.step == 4 and back.days_at_step == 0
    dirty, v = schedule.close_day(cfg, state, DayReport(on=date(2026, 1, 1), cap=cap, sent=cap, bounces=int(cap * 0.12)))
    assert v == "step_back" and dirty.step == 4


def test_a_handful_of_bounces_on_a_small_day_is_noise():
    cfg = ScheduleConfig()
    state = RampState(step=1, days_at_step=1)
    # 2 of 75 is 2.7%, over the warn rate, but two events prove nothing; a third makes it count.
    noise, v = schedule.close_day(cfg, state, DayReport(on=date(2026, 1, 1), cap=75, sent=75, bounces=2))
    assert v == "advance" and noise.step == 2
    real, v = schedule.close_day(cfg, state, DayReport(on=date(2026, 1, 1), cap=75, sent=75, bounces=3))
    assert v == "step_back" and real.step == 0


def test_idle_calendar_days_do_not_count_as_sending_days():
    cfg = ScheduleConfig()
    state = RampState(step=3, sending_days=7, last_sending_date=date(2026, 1, 1))
    same, v = schedule.close_day(cfg, state, DayReport(on=date(2026, 1, 5), cap=100))
    assert v == "idle" and same == state


@given(st.integers(min_value=0, max_value=17), st.integers(min_value=0, max_value=40))
def test_cooldown_after_idle_gap(step, gap_days):
    cfg = ScheduleConfig()
    last = date(2026, 3, 1)
    state = RampState(step=step, sending_days=20, last_sending_date=last)
    today = last + timedelta(days=gap_days + 1)
    new, cooled = schedule.open_day(cfg, state, today)
    if gap_days >= cfg.cooldown_idle_days:
        assert cooled and new.step == int(step * cfg.cooldown_keep_share) and new.cooled_down_on == today
        again, cooled_again = schedule.open_day(cfg, new, today)
        assert not cooled_again and again == new  # one cool-down per idle gap
    else:
        assert not cooled and new == state


def test_low_volume_target_warns():
    assert ScheduleConfig(target_per_day=2000).low_volume_warning is not None
    assert "shared" in ScheduleConfig(target_per_day=2000).low_volume_warning
    assert ScheduleConfig().low_volume_warning is None
