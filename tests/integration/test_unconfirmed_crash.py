"""Workers SIGKILLed inside their SES calls while `ramp events` is stopped: nothing is sent twice,
however long the events stay away; once the consumer runs, SES's Send events resolve the sends SES
had, and the others are resent exactly once, only after the events watermark proves their absence.

Four calls are caught mid-flight, deterministically: one worker's two children stall before their
request leaves (SES never gets it), the other's two after SES accepted it (SES has it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from ses_ramp.producers import Producer
from ses_ramp.worker.ops.status import queue_depths
from ses_ramp.worker.send.transports.aws import aws_client
from tests import ses_events as ev
from tests.helpers import accepted_by_moto, assert_counter_invariant, day_counters, ramp_id, settings_env, wait_for

HERE = Path(__file__).resolve().parent.parent
RESEND_AFTER_S = 10
BIG = {"warmup_start_per_day": 1_000_000, "warmup_target_per_day": 1_000_000}


def sent_ids(moto_ses, ids) -> list[str]:
    return [ramp_id(m) for m in accepted_by_moto(moto_ses, ids)]


def test_sigkill_mid_call_with_events_stopped_then_send_events_and_the_watermark_decide(settings, moto_ses, workers, runtime, tmp_path):
    s = settings.model_copy(update={"visibility_timeout_s": 5, "ses_timeout_s": 1.0, "events_queue_name": f"ev-{settings.key_prefix}",
                                    "events_wait_s": 1, "unconfirmed_resend_after_s": RESEND_AFTER_S, "rate_per_s": 10, **BIG})
    sqs = aws_client(s, "sqs")
    # A short visibility timeout: the consumer's proof of absence reaches back one timeout (events.py).
    url = sqs.create_queue(QueueName=s.events_queue_name, Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    flag = tmp_path / "stall"
    stall_path = f"{HERE / 'stalled_ses'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    pools = [workers(count=1, concurrency=2, s=s, env={"PYTHONPATH": stall_path, "RAMP_TEST_STALL_FLAG": str(flag),
                                                       "RAMP_TEST_STALL_PHASE": phase}) for phase in ("before", "after")]
    producer = Producer(s)
    ids = {r.id for r in producer.enqueue_many(
        [{"to": [f"k{i}@example.com"], "subject": f"kill {i}", "text": "x"} for i in range(100)])}
    producer.close()
    wait_for(lambda: len(sent_ids(moto_ses, ids)) >= 10, 60, 0.05, "the fleet to be sending")
    flag.touch()  # from now on every SES call stalls: two before leaving, two after SES accepted
    wait_for(lambda: len(list(tmp_path.glob("stall.*"))) == 4, 30, 0.05, "four SES calls caught mid-flight")
    for pool in pools:
        pool.kill(0)
    flag.unlink()

    # `ramp events` is down. A fresh worker drains the rest; the four killed calls come back after the
    # visibility timeout, find their in-flight records and are kept unconfirmed, not sent.
    workers(count=1, concurrency=2, s=s)
    unconfirmed = runtime.budget.keys.unconfirmed
    wait_for(lambda: runtime.client.hlen(unconfirmed) == 4 and len(set(sent_ids(moto_ses, ids))) >= len(ids) - 4, 90, 0.1,
             "the rest sent and the four killed calls kept unconfirmed")
    stuck = set(runtime.client.hkeys(unconfirmed))
    at_ses = stuck & set(sent_ids(moto_ses, ids))
    assert len(at_ses) == 2  # the two that stalled after SES took them; the other two never left
    assert_counter_invariant(runtime)

    # Twice the resend delay with no events (the fleet's clock moved on by the offset every script and
    # housekeeper reads; nothing is in flight now): nothing proves absence, so nothing is resent.
    claims_ms = max(int(json.loads(v)["at_ms"]) for v in runtime.client.hvals(unconfirmed))
    runtime.client.incrby(runtime.budget.keys.clock_offset_ms, max(0, claims_ms + 2 * RESEND_AFTER_S * 1000 - runtime.budget.now_ms()))
    assert runtime.budget.now_ms() >= claims_ms + 2 * RESEND_AFTER_S * 1000
    from ses_ramp.worker.fleet.reconcile import resolve_unconfirmed

    assert resolve_unconfirmed(runtime, RESEND_AFTER_S) == 0  # what every worker's housekeeper has been doing
    sent = sent_ids(moto_ses, ids)
    assert len(sent) == len(set(sent)) == len(ids) - 2, "zero duplicates, and only the two that never reached SES missing"
    assert set(runtime.client.hkeys(unconfirmed)) == stuck
    assert_counter_invariant(runtime)

    # SES's Send events for the two it has, then the consumer: those resolve as sent; its first empty
    # poll moves the watermark past the others' claims, and they are resent, once.
    for mid in at_ses:
        sqs.send_message(QueueUrl=url, MessageBody=ev.sns(ev.send(mid, ["x@example.com"])))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    events = subprocess.Popen([sys.executable, "-m", "ses_ramp.worker", "events"], env={**env, **settings_env(s)},
                              stdout=open(tmp_path / "events.log", "wb"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: runtime.client.hlen(unconfirmed) == 0 and set(sent_ids(moto_ses, ids)) == ids, 60, 0.1,
                 "the unconfirmed sends resolved and resent")
        wait_for(lambda: sum(queue_depths(runtime.client, s.key_prefix).values()) == 0
                 and runtime.deferrals.counts()["deferred"] == 0, 30, 0.1, "the queues empty")
    finally:
        events.terminate()
        events.wait(30)
    sent = sent_ids(moto_ses, ids)
    assert len(sent) == len(set(sent)) == len(ids), "every message at SES exactly once"
    assert all(sent.count(mid) == 1 for mid in stuck)
    d = day_counters(runtime)
    assert d["sent"] == len(ids) and d["unconfirmed"] == 0 and d["dropped"] == 0
    assert_counter_invariant(runtime)
    assert runtime.deferrals.counts()["dead"] == 0
