"""The google ramp judged by Gmail's own numbers: spam rate, reputations, late reports and no data."""

from datetime import date

from ses_ramp.config.gmail_reports import GmailDay, Thresholds, judge, verdict, worse

T = Thresholds()
ON = date(2026, 6, 1)


def day(**over) -> GmailDay:
    return GmailDay("shop.example", over.pop("on", ON), **over)


def test_spam_rate_holds_from_a_tenth_of_a_percent_and_steps_back_from_three_tenths():
    assert judge(day(spam_rate=0.0009), T)[0] is None
    assert judge(day(spam_rate=0.001), T)[0] == "hold"
    assert judge(day(spam_rate=0.0029), T)[0] == "hold"
    v, why = judge(day(spam_rate=0.003), T)
    assert v == "step_back" and "0.30%" in why and "2026-06-01" in why


def test_reputations_low_holds_and_bad_steps_back_ip_or_domain():
    assert judge(day(ip_reputation={"192.0.2.1": "HIGH"}, domain_reputation="MEDIUM"), T)[0] is None
    assert judge(day(ip_reputation={"192.0.2.1": "LOW"}), T)[0] == "hold"
    assert judge(day(domain_reputation="LOW"), T)[0] == "hold"
    v, why = judge(day(ip_reputation={"192.0.2.1": "HIGH", "192.0.2.2": "BAD"}, spam_rate=0.0015), T)
    assert v == "step_back" and "192.0.2.2" in why  # the worst figure of the day decides, and is named


def test_no_data_neither_holds_nor_advances():
    assert verdict([], T) == (None, "no Postmaster Tools data")
    assert verdict([day()], T) == (None, "no Postmaster Tools data")  # below Gmail's volume threshold
    assert worse("advance", None) == "advance" and worse("hold", None) == "hold"


def test_late_reports_apply_the_worst_received_since_the_last_roll_over():
    # Two reports arrived since the last roll-over: the older day's is the worse, and it still counts.
    late_bad = day(on=date(2026, 5, 30), spam_rate=0.004)
    recent_ok = day(on=date(2026, 5, 31), spam_rate=0.0002)
    v, why = verdict([recent_ok, late_bad], T)
    assert v == "step_back" and "2026-05-30" in why
    assert verdict([recent_ok], T) == (None, "Gmail's reports within limits")


def test_a_report_only_makes_a_day_worse_never_better():
    assert worse("advance", "hold") == "hold"
    assert worse("hold", "step_back") == "step_back"
    assert worse("step_back", "hold") == "step_back"
    assert worse("idle", "step_back") == "step_back"  # a quiet day does not hide a bad report


def test_a_report_round_trips_through_its_stored_form():
    d = day(spam_rate=0.002, ip_reputation={"192.0.2.1": "LOW"}, domain_reputation="HIGH", spammy_ids=("spring-news",))
    assert GmailDay.from_json(d.to_json()) == d
