"""Each SES event counts once whatever SQS redelivers, and a delay its delivery overtook is stale
(issue 22, items 8 and 9): real SQS (moto), real Redis."""

import threading
from datetime import UTC, datetime

import pytest

from ses_ramp.worker.budget import cohorts
from ses_ramp.worker.fleet.events_loop import EventsConsumer
from ses_ramp.worker.guards.breaker import Breaker
from ses_ramp.worker.guards.event_parse import effects_of
from ses_ramp.worker.send.transports.aws import aws_client
from tests import ses_events as ev


@pytest.fixture
def consumer(settings, runtime, moto_ses, prefix):
    s = settings.model_copy(update={"events_queue_name": f"dd-{prefix}", "alarm_name": f"alarm-{prefix}", "breaker_min_sample": 10_000})
    sqs = aws_client(s, "sqs")
    url = sqs.create_queue(QueueName=s.events_queue_name)["QueueUrl"]
    c = EventsConsumer(s, runtime, Breaker(s, runtime, cloudwatch=aws_client(s, "cloudwatch")), sqs=sqs)

    def feed(*bodies):
        for i in range(0, len(bodies), 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])])
        while c.poll_once(wait_s=0):
            pass

    c.feed = feed
    return c


def today(runtime):
    return cohorts.read(runtime.client, runtime.budget.keys, cohorts.send_day(runtime.budget.now_ms(), runtime.settings.day_timezone))


def test_every_event_delivered_twice_counts_once(consumer, runtime):
    now = datetime.now(UTC)
    events = ([ev.send(f"m{i}", [f"r{i}@example.com"], now) for i in range(10)]
              + [ev.delivery([f"r{i}@example.com"], now) for i in range(8)]
              + [ev.bounce("r8@example.com", sent_at=now), ev.complaint("r0@example.com", sent_at=now),
                 ev.delivery_delay("r9@example.com", sent_at=now)])
    bodies = [ev.sns(e) for e in events]
    consumer.feed(*bodies)
    once = today(runtime)
    rate_once = runtime.budget.status()["provider_ramps"]["other"]["rate_per_s"]
    consumer.feed(*bodies)  # SQS delivers each of them again (new SQS ids, the same SES events)
    assert today(runtime) == once
    assert once["sends"] == 10 and once["deliveries"] == 8 and once["hard_bounces"] == 1 and once["complaints"] == 1 and once["delays"] == 1
    w = consumer.store.windows(runtime.budget.now_ms())[300]
    assert w["sends"] == 10 and w["hard_bounces"] == 1 and w["delays"] == 1
    assert runtime.budget.status()["provider_ramps"]["other"]["rate_per_s"] == rate_once  # cut once, not twice


def test_two_consumers_recording_the_same_event_at_once_count_it_once(consumer, runtime):
    fx = effects_of(ev.bounce("twice@example.com", sent_at=datetime.now(UTC)))
    barrier = threading.Barrier(8)
    results = []

    def record():
        barrier.wait()
        results.append(consumer.store.record(fx, runtime.budget.now_ms()))

    threads = [threading.Thread(target=record) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["counted"] + ["duplicate"] * 7
    assert today(runtime)["hard_bounces"] == 1


def test_a_delay_that_arrives_after_its_delivery_counts_but_does_not_slow_the_provider(consumer, runtime, settings):
    now = datetime.now(UTC)
    delivered = ev.delivery(["late@example.com"], now)
    delay = ev.delivery_delay("late@example.com", sent_at=now)
    delay["mail"] = delivered["mail"]  # the same message: SQS handed its delay over after its delivery
    consumer.feed(ev.sns(delivered))
    consumer.feed(ev.sns(delay))
    assert today(runtime)["delays"] == 1
    assert runtime.budget.status()["provider_ramps"]["other"]["rate_per_s"] == settings.rate_per_s


def test_a_delay_before_its_delivery_slows_the_provider(consumer, runtime, settings):
    delay = ev.delivery_delay("early@example.com", sent_at=datetime.now(UTC))
    consumer.feed(ev.sns(delay))
    assert runtime.budget.status()["provider_ramps"]["other"]["rate_per_s"] < settings.rate_per_s
