"""At-most-once when events are missing or late: an unconfirmed send is resent only once the events
watermark proves absence, exactly once; the day's counters keep used = sent + unconfirmed + dropped."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ReadTimeoutError

from ses_ramp.producers import Producer
from ses_ramp.worker.fleet.reconcile import resolve_unconfirmed, settle_unconfirmed
from ses_ramp.worker.guards.events import EventStore
from ses_ramp.worker.ops.unconfirmed import decide, entries
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.ses_api import SesApiTransport
from tests.helpers import SesAnswers, accepted_by_moto, assert_counter_invariant, day_counters, ramp

RESEND_AFTER_S = 60


@pytest.fixture
def ses(settings, redis_client):
    s = settings.model_copy(update={"unconfirmed_resend_after_s": RESEND_AFTER_S})
    rt = Runtime.build(s, transport=SesApiTransport(s))
    rt.sender.sleep = lambda _s: None
    return rt


def advance(rt, seconds: float) -> None:
    rt.client.incrby(rt.budget.keys.clock_offset_ms, int(seconds * 1000))


def unconfirmed_sends(rt, settings, n: int) -> list[dict]:
    """`n` sends whose SES answer was lost after the request left (a read timeout): SES may have them."""
    p = Producer(settings)
    wires = [p.prepare({"to": [f"lost{i}@example.com"], "subject": "s", "text": "t"}).to_wire() for i in range(n)]
    p.close()
    SesAnswers(rt.sender.transport.client, [ReadTimeoutError(endpoint_url=settings.ses_endpoint_url)] * n)
    for w in wires:
        assert rt.sender.handle(w).outcome == "unconfirmed"
    return wires


def test_no_watermark_no_resend_and_the_counters_hold(ses, settings, moto_ses):
    wires = unconfirmed_sends(ses, settings, 4)
    assert day_counters(ses) == {"used": 4, "sent": 0, "unconfirmed": 4, "dropped": 0}
    # A redelivery of an unconfirmed message neither sends it nor counts it twice.
    assert ses.sender.handle(wires[0]).outcome == "unconfirmed"
    assert_counter_invariant(ses)
    # `ramp events` is down: hours pass, nothing proves the sends never went, nothing is resent.
    advance(ses, 10 * RESEND_AFTER_S)
    assert resolve_unconfirmed(ses, RESEND_AFTER_S) == 0
    assert len(entries(ses)) == 4 and accepted_by_moto(moto_ses, {w["id"] for w in wires}) == []
    assert_counter_invariant(ses)


def test_send_events_resolve_and_only_a_watermark_past_the_margin_resends_exactly_once(ses, settings, moto_ses):
    wires = unconfirmed_sends(ses, settings, 4)
    claimed_at = ses.budget.now_ms()
    store = EventStore(ses.client, ses.budget.keys)
    # SES's Send events for half of them arrive (the consumer is back).
    for w in wires[:2]:
        ses.client.set(ses.budget.keys.send_event(w["id"]), "1")
    assert resolve_unconfirmed(ses, RESEND_AFTER_S) == 2
    assert day_counters(ses) == {"used": 4, "sent": 2, "unconfirmed": 2, "dropped": 0}
    # The consumer found the queue empty, but too soon after the claims to prove anything.
    store.note_progress(None, claimed_at + (RESEND_AFTER_S - 1) * 1000)
    advance(ses, 2 * RESEND_AFTER_S)
    assert resolve_unconfirmed(ses, RESEND_AFTER_S) == 0
    # Now it has been live and caught up past the margin: the absence is proven; each is resent once.
    store.note_progress(None, ses.budget.now_ms())
    assert resolve_unconfirmed(ses, RESEND_AFTER_S) == 2
    assert resolve_unconfirmed(ses, RESEND_AFTER_S) == 0
    assert day_counters(ses) == {"used": 2, "sent": 2, "unconfirmed": 0, "dropped": 0}  # the resends' charges were refunded
    due = ses.deferrals.claim_due(10)
    assert sorted(mid for mid, _ in due) == sorted(w["id"] for w in wires[2:])
    ses.deferrals.ack([mid for mid, _ in due])
    for _, entry in due:
        assert ses.sender.handle(entry["message"]).outcome == "sent"
    assert day_counters(ses) == {"used": 4, "sent": 4, "unconfirmed": 0, "dropped": 0}
    assert len(accepted_by_moto(moto_ses, {w["id"] for w in wires[2:]})) == 2
    assert_counter_invariant(ses)


def test_the_operator_resends_or_drops(ses, settings, moto_ses):
    wires = unconfirmed_sends(ses, settings, 2)
    listed = json.loads(ramp(ses.settings, "unconfirmed", "list", "--json").stdout)
    assert sorted(e["id"] for e in listed) == sorted(w["id"] for w in wires)
    assert "dropped" in ramp(ses.settings, "unconfirmed", "drop", wires[0]["id"]).stdout
    assert decide(ses, wires[1]["id"], "resend")
    assert not decide(ses, wires[1]["id"], "resend")  # once
    assert day_counters(ses) == {"used": 1, "sent": 0, "unconfirmed": 0, "dropped": 1}
    assert ses.sender.handle(wires[0]).outcome == "duplicate"  # a dropped send is never resent
    assert_counter_invariant(ses)


def test_a_crash_while_resending_leaves_the_entry_and_its_charge_as_they_were(ses, settings, moto_ses):
    (w,) = unconfirmed_sends(ses, settings, 1)
    EventStore(ses.client, ses.budget.keys).note_progress(None, ses.budget.now_ms() + 2 * RESEND_AFTER_S * 1000)
    real_defer = ses.deferrals.defer

    def crash(*args, **kwargs):
        raise SystemExit("killed between the settle and the deferral")

    ses.deferrals.defer = crash
    with pytest.raises(SystemExit):
        resolve_unconfirmed(ses, RESEND_AFTER_S)
    assert [e["id"] for e in entries(ses)] == [w["id"]]  # still findable, still unconfirmed
    assert day_counters(ses) == {"used": 1, "sent": 0, "unconfirmed": 1, "dropped": 0}
    ses.deferrals.defer = real_defer  # the process restarts: the next pass resends it once
    assert resolve_unconfirmed(ses, RESEND_AFTER_S) == 1
    assert [mid for mid, _ in ses.deferrals.claim_due(10)] == [w["id"]] and entries(ses) == []


def test_two_reconcilers_on_one_entry_resend_it_once(ses, settings, moto_ses):
    (w,) = unconfirmed_sends(ses, settings, 1)
    entry = json.loads(ses.client.hget(ses.budget.keys.unconfirmed, w["id"]))
    assert settle_unconfirmed(ses, w["id"], entry, "resend") is True
    assert settle_unconfirmed(ses, w["id"], entry, "resend") is False  # the second finds it closed
    assert day_counters(ses) == {"used": 0, "sent": 0, "unconfirmed": 0, "dropped": 0}


def test_an_empty_poll_proves_nothing_while_another_consumer_holds_an_event(ses, settings, moto_ses):
    from ses_ramp.worker.fleet.events_loop import EventsConsumer
    from ses_ramp.worker.guards.breaker import Breaker
    from ses_ramp.worker.send.transports.aws import aws_client
    from tests import ses_events as ev

    (w,) = unconfirmed_sends(ses, settings, 1)
    s = settings.model_copy(update={"events_queue_name": f"inflight-{settings.key_prefix}", "alarm_name": f"a-{settings.key_prefix}"})
    sqs = aws_client(s, "sqs")
    url = sqs.create_queue(QueueName=s.events_queue_name, Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=ev.sns(ev.send(w["id"], [w["to"][0]])))
    held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]  # another `ramp events`, mid-way
    assert held
    consumer = EventsConsumer(s, ses, Breaker(s, ses, cloudwatch=aws_client(s, "cloudwatch")), sqs=sqs)
    advance(ses, 10 * RESEND_AFTER_S)
    assert consumer.poll_once(wait_s=0) == 0  # an empty receive: the Send event is invisible, not absent
    assert resolve_unconfirmed(ses, RESEND_AFTER_S) == 0 and len(entries(ses)) == 1
    sqs.delete_message(QueueUrl=url, ReceiptHandle=held[0]["ReceiptHandle"])  # (it was stored elsewhere: here, nothing in flight)
    consumer.poll_once(wait_s=0)
    # Nothing in flight now, but the proof reaches back one VisibilityTimeout (120 s) from now.
    assert EventStore(ses.client, ses.budget.keys).watermark()["empty_at_ms"] <= ses.budget.now_ms() - 120_000
