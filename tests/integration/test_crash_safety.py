"""At-least-once from the queue, at-most-once to SES: real workers killed, a real Redis restarted."""

import os
import subprocess
import sys
import threading
import time

import redis as redis_lib

from ses_ramp.producers import Producer
from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port
from ses_ramp.worker.ops.status import queue_depths
from ses_ramp.worker.send.transports.aws import aws_client
from tests import ses_events as ev
from tests.helpers import accepted_by_moto, ramp_id, settings_env, wait_for

#: A budget that does not stop these drains: they test delivery, not the cap.
BIG = {"warmup_start_per_day": 1_000_000, "warmup_target_per_day": 1_000_000}


def batch(n, tag):
    return [{"to": [f"u{i}@example.com"], "subject": f"{tag} {i}", "text": "x", **({"kind": "bulk", "list": "news"} if i % 3 else {"kind": "transactional"})} for i in range(n)]


def settle_all(runtime, moto_ses, ids, timeout_s):
    """Wait until every message is accounted for: accepted by moto or parked as unconfirmed."""

    def done():
        sent = {ramp_id(m) for m in accepted_by_moto(moto_ses, ids)}
        unconfirmed = set(runtime.client.hkeys(runtime.budget.keys.unconfirmed))
        return sent | unconfirmed >= ids

    try:
        wait_for(done, timeout_s, 0.2, "every message to be sent")
    except AssertionError:
        missing = ids - {ramp_id(m) for m in accepted_by_moto(moto_ses, ids)}
        k = runtime.budget.keys
        where = {mid: {"deferred": runtime.client.zscore(k.deferred, mid), "payload": runtime.client.hexists(k.payload, mid),
                       "dead": runtime.client.hexists(k.dead, mid), "unconfirmed": runtime.client.hexists(k.unconfirmed, mid),
                       "queued": sum(mid in x for q in ("transactional", "bulk") for name in k.queue_lists(q, list(range(10)))
                                     for x in runtime.client.lrange(name, 0, -1)),
                       "unacked": sum(mid in v for v in runtime.client.hvals(f"{k.queue_prefix}unacked"))} for mid in list(missing)[:5]}
        raise AssertionError(f"{len(missing)} missing; where: {where}") from None


class SesEventPublisher(threading.Thread):
    """Plays SES's part that moto lacks: for every message SES accepted, a Send event (tagged with
    the message id, as the configuration set's event destination publishes it) lands in SQS."""

    def __init__(self, moto_ses, sqs, url, ids):
        super().__init__(daemon=True)
        self.moto_ses, self.sqs, self.url, self.ids = moto_ses, sqs, url, ids
        self.stop = threading.Event()
        self.published = 0

    def run(self):
        while not self.stop.wait(0.2):
            fresh = self.moto_ses.sent_messages()[self.published :]
            self.published += len(fresh)
            bodies = [ev.sns(ev.send(mid, ["x@example.com"])) for mid in map(ramp_id, fresh) if mid in self.ids]
            for i in range(0, len(bodies), 10):
                self.sqs.send_message_batch(QueueUrl=self.url, Entries=[{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])])


def test_sigkill_mid_drain_loses_nothing_and_sends_nothing_twice(settings, moto_ses, workers, runtime, tmp_path):
    # A fleet held to 150/s, like a real warm-up: most of each cycle is spent waiting for a slot.
    s = settings.model_copy(update={"visibility_timeout_s": 5, "ses_timeout_s": 2.0, "rate_per_s": 150, "rate_burst": 5,
                                    "events_queue_name": f"ev-{settings.key_prefix}", "events_wait_s": 1,
                                    "unconfirmed_resend_after_s": 10, **BIG})
    sqs = aws_client(s, "sqs")
    url = sqs.create_queue(QueueName=s.events_queue_name)["QueueUrl"]
    producer = Producer(s)
    ids = {r.id for r in producer.enqueue_many(batch(1000, "crash"))}
    producer.close()
    publisher = SesEventPublisher(moto_ses, sqs, url, ids)
    publisher.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    events = subprocess.Popen([sys.executable, "-m", "ses_ramp.worker", "events"], env={**env, **settings_env(s)},
                              stdout=open(tmp_path / "events.log", "wb"), stderr=subprocess.STDOUT)
    try:
        pool = workers(count=2, concurrency=2, s=s)
        wait_for(lambda: len(accepted_by_moto(moto_ses, ids)) >= 200, 120, 0.05, "200 sends before the kill")
        pool.kill(0)  # SIGKILL: main process and its pool children, mid-drain
        pool.start_one(2)
        pool.wait_ready([pool.names[2]])

        def all_sent_nothing_pending():
            sent = {ramp_id(m) for m in accepted_by_moto(moto_ses, ids)}
            return sent >= ids and runtime.client.hlen(runtime.budget.keys.unconfirmed) == 0

        # A send the kill interrupted is unconfirmed until SES's Send event proves it went, or its
        # absence (10 s here, 15 min by default) proves it did not and it is sent again.
        wait_for(all_sent_nothing_pending, 240, 0.2, "every message sent and every unconfirmed one resolved")
    finally:
        publisher.stop.set()
        events.terminate()
        events.wait(30)
    sent = [ramp_id(m) for m in accepted_by_moto(moto_ses, ids)]
    assert len(sent) == len(set(sent)), "a message was sent twice"
    assert set(sent) == ids, f"{len(ids - set(sent))} messages never reached SES"
    assert runtime.deferrals.counts()["dead"] == 0
    assert sum(queue_depths(runtime.client, s.key_prefix).values()) == 0


def test_redis_restart_mid_drain_workers_reconnect_and_finish(settings, moto_ses, workers, tmp_path):
    server = EmbeddedRedis(free_port(), tmp_path / "redis", persist=True).start()
    s = settings.model_copy(update={"redis_url": server.url, "visibility_timeout_s": 10, "rate_per_s": 300, **BIG})
    try:
        producer = Producer(s)
        ids = {r.id for r in producer.enqueue_many(batch(1500, "restart"))}
        producer.close()
        # `ramp worker` (supervised): Celery may exit on an "Unrecoverable error" while closing the lost
        # connection (a kombu race); the supervisor restarts it, as it would in production.
        workers(count=2, concurrency=2, s=s, supervised=True)
        wait_for(lambda: len(accepted_by_moto(moto_ses, ids)) >= 300, 120, 0.05, "300 sends before the restart")
        # The restart procedure the README gives: pause writes (BRPOP is one), then SIGTERM. Without
        # the pause, Redis can pop a message in its last event-loop turn and exit before sending the
        # reply: kombu's BRPOP then loses it (see the README's "delivery window").
        redis_lib.Redis(port=server.port).client_pause(5000, all=False)
        server.stop()  # SIGTERM: Redis writes its append-only file and exits
        time.sleep(1.0)  # Redis really is down for a while (this is the outage being tested, not a sync)
        server.start()
        from ses_ramp.worker.send.runtime import Runtime
        from ses_ramp.worker.send.transports.noop import NoopTransport

        rt = Runtime.build(s, transport=NoopTransport())
        settle_all(rt, moto_ses, ids, 240)
        sent = [ramp_id(m) for m in accepted_by_moto(moto_ses, ids)]
        assert len(sent) == len(set(sent)) and set(sent) == ids
    finally:
        server.stop()
