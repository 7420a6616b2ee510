"""Redis Sentinel URLs: producers, the gate and real workers find the master through the Sentinels,
and keep sending after a failover promotes the replica."""

import subprocess

import pytest
import redis

from ses_ramp.config import Settings, SettingsError, load_settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers import Producer
from ses_ramp.producers.redis_client import redis_from_settings
from ses_ramp.worker.embedded import free_port, redis_server_binary
from tests.helpers import accepted_by_moto, redis_answers, wait_for

MASTER = "rampmaster"


def start(args, tmp_path, name):
    return subprocess.Popen([redis_server_binary(), *args], stdout=open(tmp_path / f"{name}.log", "wb"), stderr=subprocess.STDOUT)


@pytest.fixture
def sentinel_set(tmp_path):
    """A master, its replica, and one Sentinel watching them (quorum 1); all real redis-servers."""
    m_port, r_port, s_port = free_port(), free_port(), free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    procs = [start(["--port", str(m_port), "--dir", str(tmp_path / "m"), *common], tmp_path, "master")]
    procs.append(start(["--port", str(r_port), "--dir", str(tmp_path / "r"), "--replicaof", "127.0.0.1", str(m_port), *common], tmp_path, "replica"))
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {s_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {m_port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 2000\nsentinel failover-timeout {MASTER} 10000\n"
    )
    procs.append(start([str(conf), "--sentinel"], tmp_path, "sentinel"))
    master, replica, sentinel = (redis.Redis(port=p, decode_responses=True) for p in (m_port, r_port, s_port))
    wait_for(lambda: redis_answers(master) and redis_answers(replica) and redis_answers(sentinel), 20, what="the sentinel set")
    wait_for(lambda: replica.info("replication").get("master_link_status") == "up", 20, 0.1, "the replica to sync")
    # The Sentinel learns of the replica from the master's INFO; a failover needs it known.
    wait_for(lambda: sentinel.execute_command("SENTINEL", "REPLICAS", MASTER), 30, 0.2, "the sentinel to see the replica")
    yield {"sentinel_port": s_port, "master": master, "replica": replica, "sentinel": sentinel, "ports": (m_port, r_port)}
    for p in procs:
        p.terminate()
        p.wait(10)


def test_a_sentinel_url_needs_the_master_name():
    with pytest.raises(SettingsError, match="RAMP_REDIS_SENTINEL_MASTER"):
        load_settings(_env_file=None, redis_url="sentinel://127.0.0.1:26379;sentinel://127.0.0.1:26380")


def test_workers_follow_the_master_through_a_failover(settings, moto_ses, workers, sentinel_set):
    url = f"sentinel://127.0.0.1:{sentinel_set['sentinel_port']}/0"
    s: Settings = settings.model_copy(update={"redis_url": url, "redis_sentinel_master": MASTER})
    client = redis_from_settings(s)
    assert client.ping() and client.connection_pool.get_master_address()[1] == sentinel_set["ports"][0]
    workers(count=1, concurrency=2, s=s, supervised=True)

    def send(tag, n):
        p = Producer(s)
        ids = {m.id for m in p.enqueue_many({"to": [f"{tag}{i}@example.com"], "subject": tag, "text": "x", "kind": "transactional"}
                                            for i in range(n))}
        p.close()
        return ids

    before = send("before", 10)
    wait_for(lambda: len(accepted_by_moto(moto_ses, before)) == 10, 60, 0.2, "the first batch through the original master")

    sentinel_set["sentinel"].execute_command("SENTINEL", "FAILOVER", MASTER)
    new_port = sentinel_set["ports"][1]
    wait_for(lambda: int(sentinel_set["sentinel"].execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)[1]) == new_port
             and sentinel_set["replica"].info("replication")["role"] == "master", 60, 0.2, "the replica to be promoted")
    # Split brain: the old master still takes writes. The client re-asks the Sentinels within a
    # second, so a quota charge made now lands on the new master, not on one that will drop it.
    assert sentinel_set["master"].info("replication")["role"] == "master"
    client.recheck_s = 0.0  # what a second does, now: the next command asks the Sentinels first
    client.hincrby(Keys(s.key_prefix).day, "probe", 1)
    assert sentinel_set["replica"].hget(Keys(s.key_prefix).day, "probe") == "1"
    assert sentinel_set["master"].hget(Keys(s.key_prefix).day, "probe") is None
    # The planned-failover procedure the README gives: the Sentinels demote the old master a few
    # seconds after promoting the replica; a write it takes meanwhile would be lost at its resync.
    wait_for(lambda: sentinel_set["master"].info("replication")["role"] == "slave", 60, 0.2, "the old master to be demoted")

    after = send("after", 10)  # the producer asks the Sentinel and writes to the new master
    wait_for(lambda: len(accepted_by_moto(moto_ses, after)) == 10, 120, 0.2, "the second batch through the promoted master")
    assert len(accepted_by_moto(moto_ses, before | after)) == 20  # each exactly once
    # The day's budget moved with the data: the promoted master counts all 20 sends.
    assert int(sentinel_set["replica"].hget(Keys(s.key_prefix).day, "sent")) == 20
