"""Pause, resume, flush, restore and probation through the real `ramp` CLI, with real workers."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from ses_ramp.producers import Producer
from ses_ramp.worker.ops.status import queue_depths
from tests.helpers import accepted_by_moto, active_queues, ramp, settings_env, wait_for

BIG = {"warmup_start_per_day": 1_000_000, "warmup_target_per_day": 1_000_000, "rate_per_s": 100}


def enqueue(s, kind, n, tag, **extra):
    p = Producer(s)
    ids = {r.id for r in p.enqueue_many({"to": [f"{tag}{i}@example.com"], "subject": f"{tag} {i}", "text": "x", "kind": kind, **extra, **({"list": "news"} if kind == "bulk" else {})} for i in range(n))}
    p.close()
    return ids


def test_pause_resume_fleet_wide_including_a_worker_started_while_paused(settings, moto_ses, workers, runtime):
    s = settings.model_copy(update=BIG)
    ramp(s, "pause", "bulk", "--reason", "list cleanup", process=True)  # `controls`' subprocess smoke test
    pool = workers(count=1, concurrency=2, s=s)  # started while bulk is paused
    name = pool.names[0]
    assert active_queues(s, name) == {"transactional"}
    tx, bulk = enqueue(s, "transactional", 20, "t"), enqueue(s, "bulk", 20, "b")
    wait_for(lambda: len(accepted_by_moto(moto_ses, tx)) == 20, 60, what="transactional to flow")
    assert accepted_by_moto(moto_ses, bulk) == []
    assert queue_depths(runtime.client, s.key_prefix)["bulk"] == 20  # untouched in the queue, not cycled
    status = json.loads(ramp(s, "status", "--json").stdout)
    assert status["paused"]["bulk"]["reason"] == "list cleanup" and status["queues"]["bulk"] == 20

    ramp(s, "resume", "bulk")
    wait_for(lambda: len(accepted_by_moto(moto_ses, bulk)) == 20, 60, what="bulk to drain after resume")
    wait_for(lambda: active_queues(s, name) == {"transactional", "bulk"}, 30, 0.5, "the bulk consumer to come back")

    ramp(s, "pause", "all", "--reason", "SES probation e-mail")
    wait_for(lambda: active_queues(s, name) == set(), 30, 0.5, "every consumer to be cancelled")
    later = enqueue(s, "transactional", 5, "l")
    # A fetch already in flight when the consumer was cancelled may still take one; the gate then
    # refuses it (paused) and keeps it in the deferred set. None is sent, none is lost.
    kept = lambda: queue_depths(runtime.client, s.key_prefix)["transactional"] + runtime.deferrals.counts()["deferred"]  # noqa: E731
    wait_for(lambda: kept() == 5, 10, 0.1, "the 5 to be queued or kept")
    assert accepted_by_moto(moto_ses, later) == []
    ramp(s, "resume", "all")
    wait_for(lambda: len(accepted_by_moto(moto_ses, later)) == 5, 60, what="transactional after resume all")


def test_flush_parks_restore_sends_oldest_first_and_reports_expired(settings, moto_ses, workers, runtime):
    s = settings.model_copy(update=BIG)
    ramp(s, "pause", "bulk", "--reason", "flush test")
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    keep = enqueue(s, "bulk", 12, "k")
    expiring = enqueue(s, "bulk", 3, "e", expires_at=soon)
    out = ramp(s, "flush", "bulk").stdout
    assert "parked 15 queued" in out
    assert queue_depths(runtime.client, s.key_prefix)["bulk"] == 0
    status = json.loads(ramp(s, "status", "--json").stdout)
    assert status["parked"]["bulk"] == 15
    wait_for(lambda: datetime.now(UTC) > datetime.fromisoformat(soon), 10, 0.1, "the 3 to expire")
    ramp(s, "resume", "bulk")
    out = ramp(s, "restore", "bulk").stdout
    assert "restored 12" in out and "3 expired" in out
    workers(count=1, concurrency=2, s=s)
    wait_for(lambda: len(accepted_by_moto(moto_ses, keep)) == 12, 60, what="restored mail to be sent")
    assert accepted_by_moto(moto_ses, expiring) == []
    dead = {e["message"]["id"] for e in runtime.deferrals.dead_entries()}
    assert dead == expiring


def test_flush_delete_needs_confirmation(settings, runtime):
    s = settings.model_copy(update=BIG)
    enqueue(s, "bulk", 4, "d")
    refused = ramp(s, "flush", "bulk", "--delete", input="n\n", check=False)
    assert refused.returncode == 1 and runtime.client.llen(runtime.budget.keys.parked("bulk")) == 4
    ramp(s, "flush", "bulk", "--delete", input="y\n")
    assert runtime.client.llen(runtime.budget.keys.parked("bulk")) == 0


def test_probation_on_and_off(settings, runtime):
    s = settings.model_copy(update={"warmup_start_per_day": 1000, "warmup_target_per_day": 50_000})
    ramp(s, "probation", "on")
    st = json.loads(ramp(s, "status", "--json").stdout)
    assert st["probation"] and st["cap"] == 500 and st["paused"]["bulk"]["by"] == "probation"
    assert st["breaker"]["thresholds"]["bounce_trip"] == s.bounce_trip_rate * s.probation_rate_share
    ramp(s, "probation", "off")
    st = json.loads(ramp(s, "status", "--json").stdout)
    assert not st["probation"] and st["cap"] == 1000 and st["paused"] == {}
    assert st["breaker"]["thresholds"]["bounce_trip"] == s.bounce_trip_rate


def test_suppress_import_and_producer_refusal(settings, runtime, tmp_path):
    f = tmp_path / "list.csv"
    f.write_text("email,reason\n Bounced@Example.com ,hard\nother@example.com,complaint\n")
    assert "2 newly suppressed" in ramp(settings, "suppress", "import", str(f)).stdout
    assert ramp(settings, "suppress", "list").stdout.split() == ["bounced@example.com", "other@example.com"]
    ramp(settings, "suppress", "remove", "other@example.com")
    import pytest

    from ses_ramp.producers import SuppressedRecipient

    with pytest.raises(SuppressedRecipient):
        Producer(settings).enqueue({"to": ["Bounced@EXAMPLE.com"], "subject": "s", "text": "t"})


def test_dead_list_and_retry(settings, runtime, moto_ses, workers):
    s = settings.model_copy(update=BIG)
    p = Producer(s)
    wire = p.prepare({"to": ["later@example.com"], "subject": "retry me", "text": "x", "kind": "bulk", "list": "news"}).to_wire()
    p.close()
    runtime.deferrals.dead_letter(wire, 10, "TooManyRequestsException: attempts exhausted", runtime.budget.now_ms())
    listed = json.loads(ramp(s, "dead", "list", "--json", process=True).stdout)  # `lists`' subprocess smoke test
    assert [e["message"]["id"] for e in listed] == [wire["id"]] and "attempts exhausted" in listed[0]["error"]
    assert "re-enqueued 1" in ramp(s, "dead", "retry", wire["id"]).stdout
    assert runtime.deferrals.dead_entries() == []
    workers(count=1, concurrency=1, s=s)
    wait_for(lambda: accepted_by_moto(moto_ses, {wire["id"]}), 60, what="the retried dead letter to be sent")
    assert ramp(s, "dead", "retry", check=False).returncode == 2  # neither an id nor --all


def test_a_consumer_added_by_hand_during_a_pause_is_cancelled_again(settings, workers):
    s = settings.model_copy(update=BIG)
    ramp(s, "pause", "bulk", "--reason", "list cleanup", process=True)  # `controls`' subprocess smoke test
    pool = workers(count=1, concurrency=1, s=s)
    name = pool.names[0]
    assert active_queues(s, name) == {"transactional"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")} | settings_env(s)
    done = subprocess.run([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "control", "add_consumer", "bulk",
                           "-d", name, "--timeout", "5"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "bulk" in done.stdout, done.stdout + done.stderr
    # The pause follower finds the consumer on its next tick and cancels it again.
    wait_for(lambda: active_queues(s, name) == {"transactional"}, 30, 0.5, "the hand-added bulk consumer to be cancelled")


def test_resume_brings_forward_the_messages_that_met_the_pause_and_only_those(settings, runtime):
    """`ramp resume` makes the messages waiting out a pause's recheck due now (mail flows at once); a kind
    still paused, and a message waiting for budget, keep their due times."""
    from ses_ramp.worker.send.deferrals import PAUSE_RECHECK_S

    p = Producer(settings)
    tx, bulk, budget = (p.prepare({"to": [f"{tag}@example.com"], "subject": "s", "text": "t", "kind": kind,
                                   **({"list": "news"} if kind == "bulk" else {})}).to_wire()
                        for tag, kind in (("t", "transactional"), ("b", "bulk"), ("w", "bulk")))
    p.close()
    d = runtime.deferrals
    due_tx = d.defer(tx, 0, PAUSE_RECHECK_S, "paused:transactional")
    due_bulk = d.defer(bulk, 0, PAUSE_RECHECK_S, "paused:bulk")
    due_budget = d.defer(budget, 0, 20, "budget:hour")
    ramp(settings, "pause", "transactional", "--reason", "template fix")
    ramp(settings, "pause", "bulk", "--reason", "list cleanup")

    def due(wire) -> int:
        return int(runtime.client.zscore(runtime.budget.keys.deferred, wire["id"]))

    # Transactional is resumed, bulk stays paused: only the transactional message is due now.
    assert " ".join(ramp(settings, "resume", "transactional").stdout.split()) == "resumed transactional; 1 waiting messages are due now"
    assert due(tx) <= d.now_ms() < due_tx and due(bulk) == due_bulk and due(budget) == due_budget
    assert " ".join(ramp(settings, "resume", "bulk").stdout.split()) == "resumed bulk; 1 waiting messages are due now"
    assert due(bulk) <= d.now_ms() < due_bulk and due(budget) == due_budget


def test_a_list_or_campaign_paused_alone_holds_its_own_mail_and_nothing_else(settings, runtime):
    """What a spammy Feedback-ID pauses (issue 25): one list's or one campaign's mail, never the ramp."""
    s = settings.model_copy(update=BIG)
    rt = runtime.__class__.build(s, transport=runtime.sender.transport)
    rt.sender.sleep = lambda _s: None
    p = Producer(s)
    news, deals = (p.prepare({"to": [f"{tag}@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": tag}).to_wire()
                   for tag in ("news", "deals"))
    p.close()
    assert ramp(s, "pause", "list:news", "--reason", "Postmaster flagged news").returncode == 0
    out = rt.sender.handle(news)
    assert (out.outcome, out.detail) == ("paused", "list:news")
    assert rt.sender.handle(deals).outcome == "sent"  # another list goes on
    assert rt.client.hget(rt.budget.keys.pause, "bulk") is None  # the kind is not paused
    assert " ".join(ramp(s, "resume", "list:news").stdout.split()) == "resumed list:news; 1 waiting messages are due now"
    refused = ramp(s, "pause", "list:bad list", "--reason", "x", check=False)
    assert refused.returncode != 0 and "list:<id> or campaign:<id>" in refused.stderr
