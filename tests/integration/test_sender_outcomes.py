"""Every outcome of the send path, with real Redis, botocore's real parser and moto behind it."""

import json

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from ses_ramp.producers import Producer
from ses_ramp.worker.budget.store import Gate
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.ses_api import SesApiTransport
from tests.helpers import SesAnswers, accepted_by_moto


@pytest.fixture
def ses(settings, redis_client):
    transport = SesApiTransport(settings)
    rt = Runtime.build(settings, transport=transport)
    rt.sleeps = []
    rt.sender.sleep = rt.sleeps.append
    return rt


def wire(settings, **over):
    data = {"to": ["r@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"}
    data.update(over)
    return Producer(settings).prepare(data).to_wire()


def deferred_entry(rt, mid):
    raw = rt.client.hget(rt.budget.keys.payload, mid)
    return json.loads(raw) if raw else None


def test_sent_then_redelivery_is_not_sent_again(ses, settings, moto_ses):
    w = wire(settings)
    assert ses.sender.handle(w).outcome == "sent"
    assert ses.sender.handle(w).outcome == "duplicate"
    assert len(accepted_by_moto(moto_ses, {w["id"]})) == 1
    assert ses.budget.status()["sent"] == 1


def test_throttling_defers_with_backoff_refunds_and_slows_the_fleet(ses, settings):
    SesAnswers(ses.sender.transport.client, [(429, "TooManyRequestsException", "Maximum sending rate exceeded.")])
    w = wire(settings)
    out = ses.sender.handle(w, attempt=0)
    assert out.outcome == "deferred"
    entry = deferred_entry(ses, w["id"])
    assert entry["attempt"] == 1 and "TooManyRequests" in entry["error"]
    due = ses.client.zscore(ses.budget.keys.deferred, w["id"])
    assert 0 <= due - ses.budget.now_ms() <= settings.retry_base_s * 1000
    st = ses.budget.status()
    assert st["used"] == 0 and st["deferred_today"] == 1  # refunded, counted as a deferral
    assert st["rate_per_s"] == settings.rate_per_s * settings.aimd_decrease_factor and "backed off" in st["rate_why"]
    # The claim was released: the retry can pass the gate.
    assert ses.budget.gate("bulk", 1, w["idempotency_key"]).code in (Gate.GO, Gate.RATE)


def test_quota_exceeded_waits_without_spending_an_attempt(ses, settings):
    SesAnswers(ses.sender.transport.client, [(400, "LimitExceededException", "Daily message quota exceeded.")])
    w = wire(settings)
    assert ses.sender.handle(w, attempt=2).outcome == "waiting"
    assert deferred_entry(ses, w["id"])["attempt"] == 2


def test_sending_paused_pauses_everything_and_keeps_the_message(ses, settings):
    SesAnswers(ses.sender.transport.client, [(400, "SendingPausedException", "Sending is paused for this account.")])
    w = wire(settings)
    assert ses.sender.handle(w).outcome == "paused"
    pause = json.loads(ses.client.hget(ses.budget.keys.pause, "all"))
    assert pause["by"] == "ses" and "SendingPaused" in pause["reason"]
    assert deferred_entry(ses, w["id"]) is not None
    assert ses.budget.gate("transactional", 1, "other").code == Gate.PAUSED


def test_rejected_is_dead_lettered_with_its_reason_and_refunded(ses, settings):
    # (An unverified From identity is a misconfiguration and pauses instead: test_misconfiguration.py.)
    SesAnswers(ses.sender.transport.client, [(400, "MessageRejected", "Illegal address")])
    w = wire(settings)
    assert ses.sender.handle(w).outcome == "dead"
    [dead] = ses.deferrals.dead_entries()
    assert dead["message"]["id"] == w["id"] and "MessageRejected" in dead["error"]
    assert ses.budget.status()["used"] == 0 and ses.budget.status()["failed_today"] == 1


def test_connection_error_before_ses_answered_is_deferred_and_refunded(ses, settings):
    SesAnswers(ses.sender.transport.client, [EndpointConnectionError(endpoint_url=settings.ses_endpoint_url)])
    w = wire(settings)
    assert ses.sender.handle(w).outcome == "deferred"
    assert ses.budget.status()["used"] == 0


def test_read_timeout_is_unconfirmed_never_resent(ses, settings, moto_ses):
    SesAnswers(ses.sender.transport.client, [ReadTimeoutError(endpoint_url=settings.ses_endpoint_url)])
    w = wire(settings)
    assert ses.sender.handle(w).outcome == "unconfirmed"
    assert ses.client.hexists(ses.budget.keys.unconfirmed, w["id"])
    assert ses.budget.status()["used"] == 1  # SES may have it: the charge stays
    # A redelivery finds it unconfirmed already: not sent, not counted twice, whenever it comes.
    assert ses.sender.handle(w).outcome == "unconfirmed"
    ses.client.incrby(ses.budget.keys.clock_offset_ms, int((2 * settings.ses_timeout_s + 6) * 1000))
    assert ses.sender.handle(w).outcome == "unconfirmed"
    assert accepted_by_moto(moto_ses, {w["id"]}) == []
    assert ses.client.hget(ses.budget.keys.day, "unconfirmed") == "1" and ses.budget.status()["used"] == 1


def test_attempts_exhausted_goes_to_dead_letters(ses, settings):
    SesAnswers(ses.sender.transport.client, [(429, "TooManyRequestsException", "slow down")])
    w = wire(settings)
    out = ses.sender.handle(w, attempt=settings.retry_max_attempts - 1)
    assert out.outcome == "dead"
    assert ses.deferrals.dead_entries()[0]["attempts"] == settings.retry_max_attempts


def test_expired_message_is_reported_not_sent(ses, settings, moto_ses):
    # (enqueue refuses bulk that would expire before it goes: expire_ok lets this one reach the worker)
    w = wire(settings, expires_at="2020-01-01T00:00:00Z", expire_ok=True)
    assert ses.sender.handle(w).outcome == "dead"
    assert "expired" in ses.deferrals.dead_entries()[0]["error"]
    assert accepted_by_moto(moto_ses, {w["id"]}) == []


def test_aimd_recovers_additively_after_quiet_time(ses, settings):
    ses.budget.back_off()
    low = ses.budget.status()["rate_per_s"]
    ses.client.incrby(ses.budget.keys.clock_offset_ms, int(settings.aimd_quiet_s * 1000) + 1)
    assert ses.budget.recover() == pytest.approx(low + settings.aimd_increase_per_s)


def test_ses_list_management_travels_as_list_management_options(ses, settings, moto_ses):
    """Bulk mail under SES's own subscription management: the request names the contact list and
    topic (SES then adds the unsubscribe headers itself), and ses-ramp adds none of its own."""
    from tests.helpers import recorded_send_requests, reset_recording

    reset_recording(moto_ses)
    p = Producer(settings)
    wire = p.prepare({"to": ["lm@example.com"], "subject": "s", "text": "t", "kind": "bulk",
                      "list_management": {"contact_list": "Newsletter", "topic": "weekly"}}).to_wire()
    p.close()
    assert ses.sender.handle(wire).outcome == "sent"
    [request] = [r for r in recorded_send_requests(moto_ses) if r["mime"]["X-Ses-Ramp-Id"] == wire["id"]]
    assert request["ListManagementOptions"] == {"ContactListName": "Newsletter", "TopicName": "weekly"}
    assert request["mime"]["List-Unsubscribe"] is None
