"""SES events through moto's SQS into counters, suppression and the staged breaker."""

import json
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ses_ramp.config import schedule
from ses_ramp.worker.budget import cohorts
from ses_ramp.worker.fleet.events_loop import EventsConsumer
from ses_ramp.worker.guards.breaker import Breaker
from ses_ramp.worker.guards.pause import flags
from ses_ramp.worker.send.transports.aws import aws_client
from tests import ses_events as ev
from tests.helpers import set_clock


@pytest.fixture
def events_setup(settings, runtime, moto_ses, prefix):
    s = settings.model_copy(update={"events_queue_name": f"ev-{prefix}", "alarm_name": f"alarm-{prefix}", "breaker_min_sample": 200})
    sqs = aws_client(s, "sqs")
    url = sqs.create_queue(QueueName=s.events_queue_name)["QueueUrl"]
    cw = aws_client(s, "cloudwatch")
    breaker = Breaker(s, runtime, cloudwatch=cw)
    consumer = EventsConsumer(s, runtime, breaker, sqs=sqs)

    def feed(*events):
        for i in range(0, len(events), 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": b} for j, b in enumerate(events[i : i + 10])])

    def drain():
        while consumer.poll_once(wait_s=0):
            pass

    return s, consumer, breaker, feed, drain, sqs, url, cw


def sends(n, per_event=1, sent_at=None):
    """SES Send events for `n` recipients, `per_event` recipients each (SES counts recipients)."""
    return [ev.sns(ev.send(f"m{i}", [f"r{i}-{j}@example.com" for j in range(min(per_event, n - i))], sent_at))
            for i in range(0, n, per_event)]


def test_events_update_counters_suppress_and_are_deleted(events_setup, runtime):
    s, consumer, breaker, feed, drain, sqs, url, _ = events_setup
    feed(*sends(20), ev.sns(ev.bounce("Gone@Example.COM")), ev.sns(ev.complaint("angry@example.com")), ev.sns(ev.bounce("soft@example.com", permanent=False)))
    drain()
    w = consumer.store.windows(runtime.budget.now_ms())
    assert w[300]["sends"] == 20 and w[300]["hard_bounces"] == 1 and w[300]["complaints"] == 1 and w[300]["soft_bounces"] == 1
    assert w[86400]["sends"] == 20
    assert runtime.client.smembers(runtime.budget.keys.suppressed) == {"gone@example.com", "angry@example.com"}
    st = runtime.budget.status()
    # The transient bounce slowed its own mailbox provider (example.com: `other`), not the fleet.
    assert st["provider_ramps"]["other"]["rate_per_s"] < s.rate_per_s and st["rate_per_s"] == s.rate_per_s
    assert runtime.client.exists(runtime.budget.keys.send_event("m3"))
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None


def test_malformed_and_unknown_events_are_moved_aside_without_crashing(events_setup, runtime):
    s, consumer, breaker, feed, drain, sqs, url, _ = events_setup
    feed("not json", json.dumps({"Type": "Notification", "Message": json.dumps({"eventType": "Teleport", "mail": {}})}),
         json.dumps({"eventType": "Bounce", "mail": {}}), *sends(3))
    drain()
    bad = [json.loads(x) for x in runtime.client.lrange(runtime.budget.keys.bad_events, 0, -1)]
    assert len(bad) == 3 and any("Teleport" in b["error"] for b in bad) and any("missing" in b["error"] for b in bad)
    assert consumer.store.windows(runtime.budget.now_ms())[300]["sends"] == 3  # the good ones still counted


def test_unreachable_sqs_is_logged_and_the_loop_survives(events_setup, runtime, capsys):
    s, _, breaker, *_ = events_setup
    dead = s.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})
    consumer = EventsConsumer(dead, runtime, breaker)
    stop = threading.Event()
    calls = []
    original = consumer.poll_once

    def poll_then_stop(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            stop.set()
        return original(*a, **k)

    consumer.poll_once = poll_then_stop
    from ses_ramp.worker.logs import configure_logging

    configure_logging(s)
    consumer.run(stop)  # returns only because stop was set after the second failed poll
    assert len(calls) == 2
    logged = capsys.readouterr().out
    assert "events_sqs_unavailable" in logged and "127.0.0.1:9" in logged


def test_breaker_waits_for_the_minimum_sample(events_setup, runtime):
    _, consumer, breaker, feed, drain, *_ = events_setup
    feed(*sends(10), *[ev.sns(ev.bounce(f"a{i}@example.com")) for i in range(3)])  # 30% bounces, but only 10 sends
    drain()
    assert breaker.evaluate() == "ok" and flags(runtime.client, runtime.budget.keys) == {}


def test_a_dirty_day_steps_back_on_its_own_bounces_even_those_that_arrive_after_midnight(events_setup, runtime):
    """Bounces count on the day their message was sent: half of the dirty day's bounces arrive after
    midnight, and the day's close still sees all of them; the new day's cohort sees none."""
    tz = ZoneInfo(runtime.settings.day_timezone)
    day = datetime(2026, 6, 1, tzinfo=tz)
    runtime.client.hset(runtime.budget.keys.ramp, mapping=schedule.RampState(step=3, sending_days=6, last_sending_date=day.date()).to_redis())
    set_clock(runtime, day + timedelta(hours=1))
    runtime.budget.roll_day()
    runtime.client.hset(runtime.budget.keys.day, mapping={"sent": 100, "used": 100})
    _, consumer, breaker, feed, drain, *_ = events_setup
    sent_at = day + timedelta(hours=23, minutes=50)
    feed(*sends(100, per_event=50, sent_at=sent_at), *[ev.sns(ev.bounce(f"b{i}@example.com", sent_at=sent_at)) for i in range(6)])
    drain()
    set_clock(runtime, day + timedelta(days=1, seconds=30))  # past midnight: the rest of the bounces come in
    feed(*[ev.sns(ev.bounce(f"late{i}@example.com", sent_at=sent_at)) for i in range(6)])  # 12% in all: an unverified list
    drain()
    assert cohorts.read(runtime.client, runtime.budget.keys, "2026-06-01")["hard_bounces"] == 12
    assert cohorts.read(runtime.client, runtime.budget.keys, "2026-06-02")["hard_bounces"] == 0
    runtime.budget.roll_day()
    history = json.loads(runtime.client.lindex(runtime.budget.keys.history, 0))
    assert history["date"] == "2026-06-01" and history["verdict"] == "step_back" and runtime.budget.status()["step"] == 2
    assert "bounces 12.00%" in history["why"]


def test_a_day_whose_events_never_came_holds_and_status_says_why(events_setup, runtime, settings):
    from tests.helpers import ramp

    tz = ZoneInfo(runtime.settings.day_timezone)
    day = datetime(2026, 6, 1, tzinfo=tz)
    runtime.client.hset(runtime.budget.keys.ramp, mapping=schedule.RampState(step=3, days_at_step=1, sending_days=6,
                                                                             last_sending_date=day.date()).to_redis())
    set_clock(runtime, day + timedelta(hours=1))
    runtime.budget.roll_day()
    cap = int(runtime.client.hget(runtime.budget.keys.day, "cap"))
    runtime.client.hset(runtime.budget.keys.day, mapping={"sent": cap, "used": cap})  # a full day, and no event about it
    set_clock(runtime, day + timedelta(days=1, hours=1))
    runtime.budget.roll_day()
    history = json.loads(runtime.client.lindex(runtime.budget.keys.history, 0))
    assert history["verdict"] == "no_events" and runtime.budget.status()["step"] == 3
    shown = " ".join(ramp(settings, "status").stdout.split())  # the table wraps long lines
    assert "verdict on 2026-06-01 no_events" in shown and "no SES event for any of" in shown and "`ramp events` running" in shown


def test_one_complaint_is_noise_three_are_evidence(events_setup, runtime):
    _, consumer, breaker, feed, drain, *_ = events_setup
    feed(*sends(1000, per_event=50), ev.sns(ev.complaint("a@example.com")))  # 0.1%, above the trip rate, but one event
    drain()
    assert breaker.evaluate() == "ok" and flags(runtime.client, runtime.budget.keys) == {}
    feed(*[ev.sns(ev.complaint(f"c{i}@example.com")) for i in range(2)])  # three in 1,000: 0.3%
    drain()
    assert set(flags(runtime.client, runtime.budget.keys)) == {"all"}


def test_warn_pauses_bulk_trip_pauses_all_and_nothing_resumes_by_itself(events_setup, runtime):
    _, consumer, breaker, feed, drain, *_ = events_setup
    feed(*sends(200, per_event=50), *[ev.sns(ev.bounce(f"b{i}@example.com")) for i in range(6)])  # 3.0%: warn
    drain()
    assert set(flags(runtime.client, runtime.budget.keys)) == {"bulk"}
    assert flags(runtime.client, runtime.budget.keys)["bulk"]["by"] == "breaker"
    feed(*[ev.sns(ev.bounce(f"c{i}@example.com")) for i in range(3)])  # 4.5%: trip
    drain()
    paused = flags(runtime.client, runtime.budget.keys)
    assert set(paused) == {"bulk", "all"} and "bounce 4.50%" in paused["all"]["reason"]
    feed(*sends(600, per_event=50))  # the rate falls below every level (9 in 809: 1.1%)...
    drain()
    assert set(flags(runtime.client, runtime.budget.keys)) == {"bulk", "all"}  # ...and it stays paused


def test_cloudwatch_alarm_in_alarm_pauses_everything(events_setup, runtime):
    s, consumer, breaker, feed, drain, sqs, url, cw = events_setup
    cw.put_metric_alarm(AlarmName=s.alarm_name, Namespace="AWS/SES", MetricName="Reputation.BounceRate", Statistic="Average",
                        Period=300, EvaluationPeriods=1, Threshold=0.036, ComparisonOperator="GreaterThanOrEqualToThreshold")
    assert breaker.check_alarm() in ("OK", "INSUFFICIENT_DATA") and flags(runtime.client, runtime.budget.keys) == {}
    cw.set_alarm_state(AlarmName=s.alarm_name, StateValue="ALARM", StateReason="bounce rate 3.8%")
    assert breaker.check_alarm() == "ALARM"
    assert flags(runtime.client, runtime.budget.keys)["all"]["by"] == "cloudwatch"


def test_trip_levels_at_or_above_ses_lines_are_refused():
    from ses_ramp.config import SettingsError, load_settings

    with pytest.raises(SettingsError):
        load_settings(_env_file=None, complaint_trip_rate=0.001)


def test_ses_subscription_events_feed_list_scoped_suppression(events_setup, runtime, settings):
    """With SES's list management, SES hosts the unsubscribe and reports it: the producer then refuses
    bulk to that topic (or the whole contact list), and nothing else."""
    from ses_ramp.producers import Producer, Unsubscribed

    _, _, _, feed, drain, _, _, _ = events_setup
    feed(ev.sns(ev.subscription("Reader@Example.com", "Newsletter", ["weekly"])),
         ev.sns(ev.subscription("all@example.com", "Newsletter", [], unsubscribe_all=True)))
    drain()
    p = Producer(settings)
    via_ses = {"subject": "s", "text": "t", "kind": "bulk", "list_management": {"contact_list": "Newsletter", "topic": "weekly"}}
    try:
        with pytest.raises(Unsubscribed):
            p.prepare({**via_ses, "to": ["Reader@example.com"]})
        p.prepare({**via_ses, "to": ["Reader@example.com"], "list_management": {"contact_list": "Newsletter", "topic": "offers"}})
        with pytest.raises(Unsubscribed):
            p.prepare({**via_ses, "to": ["all@example.com"], "list_management": {"contact_list": "Newsletter", "topic": "offers"}})
        p.prepare({"to": ["Reader@example.com"], "subject": "receipt", "text": "t"})
    finally:
        p.close()
    assert runtime.client.scard(runtime.budget.keys.suppressed) == 0  # never the global list



def test_events_count_on_the_day_their_message_was_sent(events_setup, runtime):
    """A bounce that arrives after midnight belongs to yesterday's sends; delays are kept by type, and
    only reputation-type delays count as such (a full mailbox is not the IP's reputation)."""
    from datetime import UTC

    from ses_ramp.worker.budget import cohorts

    _, _, _, feed, drain, _, _, _ = events_setup
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    feed(ev.sns(ev.bounce("late@example.com", sent_at=yesterday)),
         ev.sns(ev.delivery_delay("slow@example.com", "TransientCommunicationFailure", sent_at=yesterday)),
         ev.sns(ev.delivery_delay("full@example.com", "MailboxFull", sent_at=now)),
         ev.sns(ev.delivery_delay("blocked@example.com", "IPFailure", sent_at=now)))
    drain()
    k = runtime.budget.keys
    old = cohorts.read(runtime.client, k, cohorts.send_day(int(yesterday.timestamp() * 1000), "UTC"))
    new = cohorts.read(runtime.client, k, cohorts.send_day(int(now.timestamp() * 1000), "UTC"))
    assert old["hard_bounces"] == 1 and old["delays"] == 1 and old["reputation_delays"] == 1
    assert new["delays"] == 2 and new["reputation_delays"] == 1 and new["delay:MailboxFull"] == 1 and new["hard_bounces"] == 0


def test_the_breaker_counts_each_bounce_against_the_sends_it_came_from(events_setup, runtime):
    """Old mail's bounces arriving now do not inflate today's windows: a window's rate is bounces of
    its own sends over its sends."""
    from datetime import UTC

    _, consumer, breaker, feed, drain, *_ = events_setup
    now = datetime.now(UTC)
    feed(*sends(400, per_event=50, sent_at=now))
    feed(*[ev.sns(ev.bounce(f"old{i}@example.com", sent_at=now - timedelta(days=2))) for i in range(40)])  # 10%, but of old sends
    drain()
    w = consumer.store.windows(runtime.budget.now_ms())
    assert w[86400]["sends"] == 400 and w[86400]["hard_bounces"] == 0 and w[300]["hard_bounces"] == 0
    assert breaker.evaluate() == "ok"
    feed(*[ev.sns(ev.bounce(f"new{i}@example.com", sent_at=now)) for i in range(20)])  # 5% of the window's own sends
    drain()
    assert consumer.store.windows(runtime.budget.now_ms())[300]["hard_bounces"] == 20
    assert breaker.evaluate() == "trip" and "all" in flags(runtime.client, runtime.budget.keys)


def _via(event: dict, configuration_set: str) -> dict:
    event["mail"]["tags"]["ses:configuration-set"] = [configuration_set]
    return event


@pytest.mark.parametrize("bounced_by", ["overflow", "dedicated"])
def test_overflow_events_leave_the_dedicated_verdict_unchanged_while_the_breaker_counts_them(events_setup, runtime, bounced_by):
    """Issue 23: the day's verdict judges the dedicated IP on its own sends; the breaker (SES suspends the
    account, not the IP) judges both routes. The same bounces step the ramp back only when the dedicated
    IP's own mail bounced."""
    s, consumer, breaker, feed, drain, *_ = events_setup
    overflow = "ses-ramp-overflow"
    consumer.store.overflow_set = overflow
    tz = ZoneInfo(runtime.settings.day_timezone)
    day = datetime(2026, 6, 1, tzinfo=tz)
    runtime.client.hset(runtime.budget.keys.ramp, mapping=schedule.RampState(step=3, sending_days=6, last_sending_date=day.date()).to_redis())
    set_clock(runtime, day + timedelta(hours=1))
    runtime.budget.roll_day()
    cap = int(runtime.client.hget(runtime.budget.keys.day, "cap"))
    runtime.client.hset(runtime.budget.keys.day, mapping={"sent": cap, "used": cap, "ov_sent": 400, "ov_used": 400})
    sent_at = day + timedelta(hours=2)
    dedicated = [ev.sns(ev.send(f"d{i}", [f"d{i}@example.com"], sent_at)) for i in range(cap)]
    delivered = cap - 20 if bounced_by == "dedicated" else cap  # every dedicated send has its outcome
    dedicated += [ev.sns(ev.delivery([f"d{i}@example.com"], sent_at)) for i in range(delivered)]
    shared = [ev.sns(_via(ev.send(f"o{i}", [f"o{i}-{j}@example.com" for j in range(50)], sent_at), overflow)) for i in range(8)]
    bounces = [ev.bounce(f"bad{i}@example.com", sent_at=sent_at) for i in range(20)]
    feed(*dedicated, *shared, *[ev.sns(_via(b, overflow) if bounced_by == "overflow" else b) for b in bounces])
    drain()
    windows = consumer.store.windows(runtime.budget.now_ms())
    assert windows[300]["sends"] == cap + 400 and windows[300]["hard_bounces"] == 20  # the breaker sees both routes
    assert breaker.evaluate() == "warn"  # 20 in cap + 400 (3.5%): over RAMP_BOUNCE_WARN_RATE, whichever route
    day_counts = cohorts.read(runtime.client, runtime.budget.keys, "2026-06-01")
    assert day_counts["sends"] == cap and day_counts["hard_bounces"] == (20 if bounced_by == "dedicated" else 0)
    set_clock(runtime, day + timedelta(days=1, seconds=30))
    runtime.budget.roll_day()
    history = json.loads(runtime.client.lindex(runtime.budget.keys.history, 0))
    assert history["verdict"] == ("step_back" if bounced_by == "dedicated" else "advance")
