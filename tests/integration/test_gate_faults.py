"""Faults inside and around the gate (issue 22): a Redis error or refusal leaves the message where it
was, a lost reply gives its charge back, refunds touch only the window they were charged to, and
every "now" is Redis's clock."""

from datetime import UTC, datetime, timedelta

import pytest
import redis
from celery.exceptions import Reject

from ses_ramp.producers import Producer
from ses_ramp.worker import tasks
from ses_ramp.worker.budget.store import Gate
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.ses_api import SesApiTransport
from tests.helpers import set_clock


@pytest.fixture
def ses(settings, redis_client):
    rt = Runtime.build(settings, transport=SesApiTransport(settings))
    rt.sender.sleep = lambda _s: None
    return rt


def wire(settings, **over):
    data = {"to": ["r@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"}
    data.update(over)
    return Producer(settings).prepare(data).to_wire()


def open_day(rt):
    assert rt.budget.gate("transactional", 1, "opener").code == Gate.NO_DAY
    rt.budget.roll_day()


def failing_gate(rt, exc, after_script=False):
    real = rt.budget.gate

    def gate(*args, **kwargs):
        if after_script:
            real(*args, **kwargs)  # the script ran and reserved; its reply never arrived
        raise exc

    rt.budget.gate = gate


@pytest.mark.parametrize("exc", [
    redis.exceptions.ConnectionError("Connection reset by peer"),
    redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
    redis.exceptions.ResponseError("NOREPLICAS Not enough good replicas to write."),
    redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
], ids=["connection", "oom", "noreplicas", "readonly"])
def test_a_redis_error_inside_the_gate_hands_the_message_back_never_dead(ses, settings, exc):
    open_day(ses)
    w = wire(settings)
    failing_gate(ses, exc)
    with pytest.raises(redis.exceptions.RedisError):
        ses.sender.handle(w)
    assert ses.client.hlen(ses.budget.keys.dead) == 0
    assert ses.client.zcard(ses.budget.keys.deferred) == 0


def test_a_lost_gate_reply_gives_its_charge_and_claim_back(ses, settings):
    open_day(ses)
    w = wire(settings)
    failing_gate(ses, redis.exceptions.ConnectionError("reply lost"), after_script=True)
    with pytest.raises(redis.exceptions.ConnectionError):
        ses.sender.handle(w)
    assert ses.budget.status()["used"] == 0  # the opener was a NO_DAY: only this claim was ever charged
    assert ses.client.get(ses.budget.keys.idem(w["idempotency_key"])) is None
    del ses.budget.gate  # the real gate again: the redelivery is sent once
    assert ses.sender.handle(w).outcome == "sent"
    assert ses.budget.status()["used"] == 1


def test_the_roll_over_lock_held_elsewhere_requeues_instead_of_dead_lettering(ses, settings):
    ses.sender.roll_wait_s = 0.1
    held = ses.client.lock(ses.budget.keys.lock("roll"), timeout=30)
    assert held.acquire()
    try:
        with pytest.raises(redis.exceptions.LockError):
            ses.sender.handle(wire(settings))
    finally:
        held.release()
    assert ses.client.hlen(ses.budget.keys.dead) == 0


def test_the_task_requeues_a_message_whose_gate_met_a_refusal(ses, settings, monkeypatch):
    monkeypatch.setattr(tasks, "get_runtime", lambda _s: ses)
    monkeypatch.setattr(tasks, "REFUSED_PAUSE_S", 0)
    open_day(ses)
    failing_gate(ses, redis.exceptions.OutOfMemoryError("used memory > 'maxmemory'"))
    with pytest.raises(Reject) as rejected:
        tasks._run(settings, "handle", (wire(settings),), {})
    assert rejected.value.requeue is True
    assert ses.client.hlen(ses.budget.keys.dead) == 0


def test_an_unknown_task_keyword_is_ignored_and_the_message_sent(ses, settings, monkeypatch):
    monkeypatch.setattr(tasks, "get_runtime", lambda _s: ses)
    w = wire(settings)
    tasks._run(settings, "handle", (), {"message": w, "attempt": 0, "x_trace_id": "abc"})
    assert ses.budget.status()["sent"] == 1


def test_task_arguments_that_cannot_be_read_are_dead_lettered_with_the_reason(ses, settings, monkeypatch):
    monkeypatch.setattr(tasks, "get_runtime", lambda _s: ses)
    tasks._run(settings, "handle", (), {"x_trace_id": "abc"})
    (entry,) = ses.client.hvals(ses.budget.keys.dead)
    assert "unreadable task arguments" in entry and "x_trace_id" in entry


def test_a_refund_after_the_hour_turned_leaves_the_new_hours_allowance_alone(ses, settings):
    open_day(ses)
    claim = ses.budget.gate("bulk", 3, "early", token="t1")
    assert claim.code == Gate.GO
    ses.client.incrby(ses.budget.keys.clock_offset_ms, 3_600_000)
    assert ses.budget.gate("bulk", 5, "late", token="t2").code == Gate.GO  # the new hour: 5 used
    ses.budget.settle("deferred", "bulk", 3, claim.detail, "early", token="t1")
    day = ses.client.hgetall(ses.budget.keys.day)
    assert int(day["hour_used"]) == 5 and int(day["used"]) == 5


def test_a_refund_after_the_quota_was_reread_leaves_the_new_count_alone(ses, settings):
    open_day(ses)
    ses.budget.store_account_quota(1000, 0, 0)
    claim = ses.budget.gate("bulk", 3, "early", token="t1")
    ses.client.incrby(ses.budget.keys.clock_offset_ms, 1)
    ses.budget.store_account_quota(1000, 3, 0)  # SentLast24Hours now holds those 3: acct_used restarts at 0
    ses.budget.settle("deferred", "bulk", 3, claim.detail, "early", token="t1")
    assert int(ses.client.hget(ses.budget.keys.day, "acct_used")) == 0


def test_expiry_is_judged_on_the_redis_clock_not_the_workers(ses, settings):
    w = wire(settings, expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    set_clock(ses, datetime.now(UTC) + timedelta(hours=2))
    assert ses.sender.handle(w).outcome == "dead"


def test_retry_max_age_is_judged_on_the_redis_clock(ses, settings):
    w = wire(settings)
    set_clock(ses, datetime.now(UTC) + timedelta(seconds=settings.retry_max_age_s + 60))
    assert ses.sender.handle(w, attempt=1).outcome == "dead"
