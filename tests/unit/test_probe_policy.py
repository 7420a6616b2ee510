"""The probe's plain policy (`config/probe.py`): sample size, a day's share, the verdict."""

from ses_ramp.config.probe import PARKED, RELEASED, ProbePolicy, draw, judge

POLICY = ProbePolicy(new_recipients=1000, sample_min=200, sample_share=0.02, day_share=0.1, max_bounce_rate=0.02,
                     settled_share=0.9, deadline_s=21_600)


def test_the_sample_is_the_larger_of_the_minimum_and_the_share_and_only_past_the_threshold():
    assert POLICY.sample_size(1000) == 0  # not more than the threshold: no probe
    assert POLICY.sample_size(1001) == 200
    assert POLICY.sample_size(50_000) == 1000
    assert ProbePolicy(**{**POLICY.__dict__, "new_recipients": 0}).sample_size(10**6) == 0  # off


def test_a_day_gives_the_samples_a_share_of_its_cap_and_at_least_one():
    assert POLICY.day_allowance(cap=112, fed_today=0) == 11
    assert POLICY.day_allowance(cap=112, fed_today=11) == 0
    assert POLICY.day_allowance(cap=5, fed_today=0) == 1


def test_the_draw_is_random_but_the_same_for_the_same_campaign():
    a, b = draw(10_000, 200, "spring-sale"), draw(10_000, 200, "spring-sale")
    assert a == b and a == sorted(a) and len(set(a)) == 200
    assert draw(10_000, 200, "autumn-sale") != a


def test_a_sample_waits_until_it_settles_or_its_deadline():
    assert judge(POLICY, 200, delivered=150, hard=2, other=0, waited_s=None) is None
    assert judge(POLICY, 200, delivered=150, hard=2, other=0, waited_s=600) is None


def test_a_settled_sample_under_the_rate_is_released_and_over_it_parked():
    passed = judge(POLICY, 200, delivered=178, hard=2, other=0, waited_s=None)
    assert passed is not None and passed.state == RELEASED and passed.reason == "probe passed: 1.1% hard bounces in a sample of 180"
    failed = judge(POLICY, 400, delivered=370, hard=30, other=0, waited_s=None)
    assert failed is not None and failed.state == PARKED and failed.reason == "probe failed: 7.5% hard bounces in a sample of 400"


def test_a_sample_already_over_the_rate_of_its_whole_size_is_parked_at_once():
    v = judge(POLICY, 200, delivered=40, hard=5, other=0, waited_s=None)
    assert v is not None and v.state == PARKED
    assert v.reason.startswith("probe failed: 5 hard bounces in the first 45 of a sample of 200")
    assert judge(POLICY, 200, delivered=40, hard=4, other=0, waited_s=None) is None  # 4 = 2% of 200: not over yet


def test_at_the_deadline_too_little_heard_is_parked_as_inconclusive_enough_is_judged():
    v = judge(POLICY, 200, delivered=20, hard=0, other=0, waited_s=21_600)
    assert v is not None and v.state == PARKED and v.reason.startswith("probe inconclusive: 20 of a sample of 200")
    v = judge(POLICY, 200, delivered=120, hard=1, other=3, waited_s=21_600)
    assert v is not None and v.state == RELEASED
