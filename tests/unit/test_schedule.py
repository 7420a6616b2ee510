from datetime import date, timedelta

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ses_ramp.config import Settings, schedule
from ses_ramp.config.schedule import DayReport, RampState, ScheduleConfig


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
    cfg = ScheduleConfig.of(start_per_day=start, target_per_day=target, multiplier=multiplier, days=45)
    steps = len(schedule.step_caps(cfg))
    days = draw(st.integers(min_value=max(30, steps), max_value=45)) if steps <= 45 else steps
    return ScheduleConfig.of(start_per_day=start, target_per_day=target, multiplier=multiplier, days=days)


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
    return DayReport(on=on, cap=cap, sent=cap, event_sends=cap, delivered=cap)


def heard(cap: int, sent: int | None = None, **events: int) -> DayReport:
    """A day SES has fully reported on: every recipient sent, Send events for all, the rest delivered."""
    sent = cap if sent is None else sent
    bad = events.get("bounces", 0) + events.get("soft_bounces", 0) + events.get("reputation_delays", 0) + events.get("other_delays", 0)
    return DayReport(on=date(2026, 1, 1), cap=cap, sent=sent, event_sends=sent, delivered=max(0, sent - bad), **events)


def test_healthy_days_walk_the_plan_exactly():
    cfg = ScheduleConfig.of()
    state, on = RampState(), date(2026, 1, 1)
    caps = []
    for _ in range(len(schedule.plan(cfg))):
        caps.append(schedule.cap_for(cfg, state))
        state, verdict = schedule.close_day(cfg, state, _healthy(cfg, state, on))
        assert verdict == "advance"
        on += timedelta(days=1)
    assert caps == [d.cap for d in schedule.plan(cfg)]


def test_underused_day_holds_and_bad_day_steps_back():
    cfg = ScheduleConfig.of()
    state = RampState(step=5, days_at_step=1)
    cap = schedule.cap_for(cfg, state)
    held, v = schedule.close_day(cfg, state, heard(cap, sent=int(cap * 0.5)))
    assert v == "hold" and held.step == 5 and held.days_at_step == 1 and held.sending_days == 1
    warn, v = schedule.close_day(cfg, state, heard(cap, bounces=int(cap * 0.03)))
    assert v == "hold" and warn.step == 5
    back, v = schedule.close_day(cfg, state, heard(cap, reputation_delays=int(cap * 0.35)))
    assert v == "step_back" and back.step == 4 and back.days_at_step == 0
    dirty, v = schedule.close_day(cfg, state, heard(cap, bounces=int(cap * 0.12)))
    assert v == "step_back" and dirty.step == 4


def at_step(step: int, days_at_step: int):
    cfg = ScheduleConfig.of()
    state = RampState(step=step, days_at_step=days_at_step)
    return cfg, state, schedule.cap_for(cfg, state)


def test_only_reputation_delays_count_as_deferrals():
    cfg, state, cap = at_step(5, 0)
    slow, v = schedule.close_day(cfg, state, heard(cap, reputation_delays=int(cap * 0.15)))
    assert v == "hold" and slow.step == 5
    # Full mailboxes say nothing about the IP: the same share of them advances.
    full, v = schedule.close_day(cfg, state, heard(cap, other_delays=int(cap * 0.15)))
    assert v == "advance" and full.days_at_step == 1


def test_a_day_without_events_holds_and_says_why():
    cfg, state, cap = at_step(5, 1)
    silent = DayReport(on=date(2026, 1, 1), cap=cap, sent=cap)  # the worker sent; SES said nothing
    after, v = schedule.close_day(cfg, state, silent)
    assert v == "no_events" and after.step == 5 and after.days_at_step == 1 and after.sending_days == 1
    assert "ramp events" in schedule.why(cfg, silent, v)


def test_a_clean_day_advances_only_once_settled_but_bad_news_never_waits():
    cfg, state, cap = at_step(5, 1)
    half = DayReport(on=date(2026, 1, 1), cap=cap, sent=cap, event_sends=cap, delivered=cap // 2)
    after, v = schedule.close_day(cfg, state, half)
    assert v == "unsettled" and after.step == 5 and after.days_at_step == 1
    assert "50%" in schedule.why(cfg, half, v)
    most = DayReport(on=date(2026, 1, 1), cap=cap, sent=cap, event_sends=cap, delivered=int(cap * cfg.settle_share) + 1)
    assert schedule.verdict(cfg, most) == "advance"
    # A third of the day delayed for reputation, heard before the rest settled: it steps back now.
    bad = DayReport(on=date(2026, 1, 1), cap=cap, sent=cap, event_sends=cap, delivered=cap // 3, reputation_delays=cap // 3)
    assert schedule.verdict(cfg, bad) == "step_back"


def test_a_handful_of_bounces_on_a_small_day_is_noise():
    cfg = ScheduleConfig.of()
    state = RampState(step=1, days_at_step=1)
    # 2 of 75 is 2.7%, over the warn rate, but two events prove nothing; a third makes it count.
    noise, v = schedule.close_day(cfg, state, heard(75, bounces=2))
    assert v == "advance" and noise.step == 2
    real, v = schedule.close_day(cfg, state, heard(75, bounces=3))
    assert v == "step_back" and real.step == 0


def test_idle_calendar_days_do_not_count_as_sending_days():
    cfg = ScheduleConfig.of()
    state = RampState(step=3, sending_days=7, last_sending_date=date(2026, 1, 1))
    same, v = schedule.close_day(cfg, state, DayReport(on=date(2026, 1, 5), cap=100))
    assert v == "idle" and same == state


@given(st.integers(min_value=0, max_value=17), st.integers(min_value=0, max_value=40))
def test_cooldown_after_idle_gap(step, gap_days):
    cfg = ScheduleConfig.of()
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
    assert ScheduleConfig.of(target_per_day=2000).low_volume_warning is not None
    assert "shared" in ScheduleConfig.of(target_per_day=2000).low_volume_warning
    assert ScheduleConfig.of().low_volume_warning is None


@given(
    start=st.integers(min_value=1, max_value=5_000),
    growth=st.floats(min_value=1.0, max_value=2_000.0),
    multiplier=st.floats(min_value=1.01, max_value=3.0),
    days=st.integers(min_value=1, max_value=365),
)
@hsettings(max_examples=300, deadline=None)
def test_settings_count_steps_with_the_schedule(start, growth, multiplier, days):
    """One step count: `Settings` accepts a ramp exactly when the schedule fits its steps into the
    days, and an accepted ramp's plan spans exactly `RAMP_WARMUP_DAYS` sending days."""
    from ses_ramp.config import SettingsError, load_settings

    target = max(start, int(start * growth))
    caps = schedule.caps_between(start, target, multiplier)
    try:
        s = load_settings(_env_file=None, warmup_start_per_day=start, warmup_target_per_day=target,
                          warmup_multiplier=multiplier, warmup_days=days)
    except SettingsError as exc:
        assert len(caps) > days, exc
        assert f"needs {len(caps)} steps" in str(exc)
        return
    assert len(caps) <= days
    cfg = ScheduleConfig.from_settings(s)
    assert s.warmup_steps == len(schedule.step_caps(cfg)) == len(caps)
    assert len(schedule.plan(cfg)) == days


def test_schedule_defaults_are_the_settings_defaults():
    """`ScheduleConfig.of()` reads `Settings`' field defaults, not the environment."""
    import os

    os.environ["RAMP_WARMUP_DAYS"] = "40"
    try:
        cfg = ScheduleConfig.of()
    finally:
        del os.environ["RAMP_WARMUP_DAYS"]
    assert cfg.days == Settings.model_fields["warmup_days"].default == 45
    assert cfg.start_per_day == Settings.model_fields["warmup_start_per_day"].default
    assert cfg.min_events == Settings.model_fields["breaker_min_events"].default


def test_a_bulk_only_day_is_judged_on_what_bulk_could_use():
    """Bulk may never take the transactional reserve: a day that sent all the rest advances."""
    cfg, state, cap = at_step(5, 1)
    reserve = cap // 5
    bulk_only = heard(cap, sent=cap - reserve)
    assert schedule.verdict(cfg, DayReport(**{**bulk_only.__dict__, "reserve_unused": reserve})) == "advance"
    assert schedule.verdict(cfg, DayReport(**{**bulk_only.__dict__, "sent": (cap - reserve) // 2, "event_sends": (cap - reserve) // 2,
                                              "delivered": (cap - reserve) // 2, "reserve_unused": reserve})) == "hold"
