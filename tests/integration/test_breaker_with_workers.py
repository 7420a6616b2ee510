"""Bounce and complaint events arrive through moto's SQS while real workers drain: warn stops bulk,
trip stops everything, nothing queued is lost, and `ramp resume` lets it drain again."""

import subprocess
import sys

from ses_ramp.producers import Producer
from ses_ramp.worker.guards.pause import flags
from ses_ramp.worker.ops.status import queue_depths
from ses_ramp.worker.send.transports.aws import aws_client
from tests import ses_events as ev
from tests.helpers import accepted_by_moto, ramp, settings_env, wait_for


def test_breaker_stages_with_real_workers_and_events_consumer(settings, moto_ses, workers, runtime, tmp_path):
    s = settings.model_copy(update={"warmup_start_per_day": 1_000_000, "warmup_target_per_day": 1_000_000, "rate_per_s": 100,
                                    "events_queue_name": f"ev-{settings.key_prefix}", "events_wait_s": 1, "breaker_min_sample": 200})
    sqs = aws_client(s, "sqs")
    url = sqs.create_queue(QueueName=s.events_queue_name)["QueueUrl"]

    def feed(bodies):
        for i in range(0, len(bodies), 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])])

    def enqueue(kind, n, tag):
        p = Producer(s)
        ids = {r.id for r in p.enqueue_many({"to": [f"{tag}{i}@example.com"], "subject": tag, "text": "x", "kind": kind, **({"list": "news"} if kind == "bulk" else {})} for i in range(n))}
        p.close()
        return ids

    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    events = subprocess.Popen([sys.executable, "-m", "ses_ramp.worker", "events"], env={**env, **settings_env(s)},
                              stdout=open(tmp_path / "events.log", "wb"), stderr=subprocess.STDOUT)
    try:
        workers(count=1, concurrency=2, s=s)
        feed([ev.sns(ev.send(f"m{i}", [f"r{i}@example.com"])) for i in range(200)] + [ev.sns(ev.bounce(f"b{i}@example.com")) for i in range(6)])
        wait_for(lambda: "bulk" in flags(runtime.client, runtime.budget.keys), 60, 0.2, "the warn level to pause bulk")
        assert "all" not in flags(runtime.client, runtime.budget.keys)
        tx1, bulk1 = enqueue("transactional", 10, "tx1-"), enqueue("bulk", 10, "bulk1-")
        wait_for(lambda: len(accepted_by_moto(moto_ses, tx1)) == 10, 60, what="transactional to keep flowing at warn")
        assert accepted_by_moto(moto_ses, bulk1) == []

        feed([ev.sns(ev.complaint(f"angry{i}@example.com")) for i in range(3)])  # 3 in 200 sends: 1.5% >= the 0.08% trip
        wait_for(lambda: "all" in flags(runtime.client, runtime.budget.keys), 60, 0.2, "the trip level to pause everything")
        tx2 = enqueue("transactional", 5, "tx2-")
        kept = lambda: sum(queue_depths(runtime.client, s.key_prefix).values()) + runtime.deferrals.counts()["deferred"]  # noqa: E731
        wait_for(lambda: kept() == 15, 30, 0.2, "the 15 held messages to be queued or deferred")
        assert accepted_by_moto(moto_ses, tx2) == [] and accepted_by_moto(moto_ses, bulk1) == []
        assert runtime.client.sismember(runtime.budget.keys.suppressed, "angry0@example.com")

        ramp(s, "resume", "all")
        wait_for(lambda: len(accepted_by_moto(moto_ses, tx2 | bulk1)) == 15, 120, 0.2, "everything held to drain after resume")
        assert flags(runtime.client, runtime.budget.keys) == {}
    finally:
        events.terminate()
        events.wait(30)
