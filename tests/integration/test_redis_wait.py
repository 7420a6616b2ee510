"""A claim durable before SES is called (issue 22, item 7): with RAMP_REDIS_WAIT_REPLICAS a replica holds
the claim when the request leaves, and a master without its replica (one the Sentinels replaced, or
whose replica died) gives the claim back and requeues the message instead of sending it."""

import subprocess

import pytest
import redis

from ses_ramp.producers import Producer
from ses_ramp.worker.budget.store import ClaimNotDurable, Gate
from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port, redis_server_binary
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.ses_api import SesApiTransport
from tests.helpers import accepted_by_moto, ramp_id, redis_answers, wait_for


@pytest.fixture
def master_and_replica(tmp_path):
    master = EmbeddedRedis(free_port(), tmp_path / "m", persist=False).start()
    replica_port = free_port()
    (tmp_path / "r").mkdir()
    procs: list[subprocess.Popen] = []

    def start_replica() -> redis.Redis:
        procs.append(subprocess.Popen(
            [redis_server_binary(), "--port", str(replica_port), "--bind", "127.0.0.1", "--dir", str(tmp_path / "r"),
             "--save", "", "--appendonly", "no", "--replicaof", "127.0.0.1", str(master.port)],
            stdout=open(tmp_path / "replica.log", "ab"), stderr=subprocess.STDOUT))
        replica = redis.Redis(port=replica_port, decode_responses=True)
        wait_for(lambda: redis_answers(replica) and replica.info("replication").get("master_link_status") == "up", 30, 0.05,
                 "the replica to sync")
        return replica

    def stop_replica() -> None:
        procs[-1].terminate()
        procs[-1].wait(10)
        link = redis.Redis.from_url(master.url)
        wait_for(lambda: link.info("replication")["connected_slaves"] == 0, 30, 0.05, "the master to see its replica gone")

    yield master, start_replica, stop_replica
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(10)
    master.stop()


def build(settings, url):
    s = settings.model_copy(update={"redis_url": url, "redis_wait_replicas": 1, "redis_wait_timeout_ms": 100})
    rt = Runtime.build(s, transport=SesApiTransport(s))
    rt.sender.sleep = lambda _s: None
    assert rt.budget.gate("transactional", 1, "opener").code == Gate.NO_DAY
    rt.budget.roll_day()
    return s, rt


def test_the_replica_holds_the_claim_when_the_ses_request_leaves(settings, moto_ses, master_and_replica):
    master, start_replica, _ = master_and_replica
    replica = start_replica()
    s, rt = build(settings, master.url)
    w = Producer(s).prepare({"to": ["w1@example.com"], "subject": "s", "text": "t", "kind": "transactional"}).to_wire()
    on_replica_at_send: list[str | None] = []
    # Registered after the gate's own before-send hook, so it runs once the claim is made.
    rt.sender.transport.client.meta.events.register(
        "before-send.sesv2.SendEmail", lambda **_: on_replica_at_send.append(replica.get(rt.budget.keys.idem(w["id"]))))
    assert rt.sender.handle(w).outcome == "sent"
    assert on_replica_at_send and (on_replica_at_send[0] or "").startswith("inflight:")
    assert [ramp_id(m) for m in accepted_by_moto(moto_ses, {w["id"]})] == [w["id"]]


def test_without_its_replica_a_master_sends_nothing_and_keeps_no_charge(settings, moto_ses, master_and_replica):
    master, start_replica, stop_replica = master_and_replica
    start_replica()
    s, rt = build(settings, master.url)
    w = Producer(s).prepare({"to": ["w2@example.com"], "subject": "s", "text": "t", "kind": "transactional"}).to_wire()
    stop_replica()  # what an old master sees once the Sentinels promoted its replica
    with pytest.raises(ClaimNotDurable, match="0 of 1 Redis replicas"):
        rt.sender.handle(w)
    assert accepted_by_moto(moto_ses, {w["id"]}) == []
    day = rt.client.hgetall(rt.budget.keys.day)
    assert int(day.get("used", 0)) == 0 and int(day.get("used_tx", 0)) == 0  # the claim was given back
    assert rt.client.get(rt.budget.keys.idem(w["id"])) is None
    start_replica()  # the replica back: the requeued message goes, once
    assert rt.sender.handle(w).outcome == "sent"
    assert len(accepted_by_moto(moto_ses, {w["id"]})) == 1
