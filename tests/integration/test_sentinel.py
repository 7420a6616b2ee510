"""Redis Sentinel URLs: producers, the gate and real workers find the master through the Sentinels,
follow a failover, and never write to an old master that the Sentinels have replaced."""

import subprocess

import pytest
import redis

from ses_ramp.config import Settings, SettingsError, load_settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers import Producer
from ses_ramp.producers.redis_client import redis_from_settings
from ses_ramp.worker.ops.embedded import free_port, redis_server_binary
from tests.helpers import accepted_by_moto, redis_answers, wait_for

MASTER = "rampmaster"


@pytest.fixture
def sentinel_set(tmp_path):
    """Factory: a master, its replica, and one Sentinel watching them (quorum 1), all real
    redis-servers. `demotable=False` renames REPLICAOF on the master, so after a failover it stays a
    master that still takes writes: the split brain of a partition or a slow demotion, held open."""
    procs = []

    def run(args, name):
        procs.append(subprocess.Popen([redis_server_binary(), *args], stdout=open(tmp_path / f"{name}.log", "wb"), stderr=subprocess.STDOUT))

    def start(demotable: bool = True) -> dict:
        m_port, r_port, s_port = free_port(), free_port(), free_port()
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        (tmp_path / "m").mkdir()
        (tmp_path / "r").mkdir()
        locked = [] if demotable else ["--rename-command", "REPLICAOF", "", "--rename-command", "SLAVEOF", ""]
        run(["--port", str(m_port), "--dir", str(tmp_path / "m"), *common, *locked], "master")
        run(["--port", str(r_port), "--dir", str(tmp_path / "r"), "--replicaof", "127.0.0.1", str(m_port), *common], "replica")
        conf = tmp_path / "sentinel.conf"
        conf.write_text(
            f"port {s_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {m_port} 1\n"
            f"sentinel down-after-milliseconds {MASTER} 2000\nsentinel failover-timeout {MASTER} 10000\n"
        )
        run([str(conf), "--sentinel"], "sentinel")
        master, replica, sentinel = (redis.Redis(port=p, decode_responses=True) for p in (m_port, r_port, s_port))
        wait_for(lambda: redis_answers(master) and redis_answers(replica) and redis_answers(sentinel), 20, what="the sentinel set")
        wait_for(lambda: replica.info("replication").get("master_link_status") == "up", 20, 0.1, "the replica to sync")
        # The Sentinel learns of the replica from the master's INFO, then connects to it; until it
        # has (flags exactly "slave", link ok) a failover answers NOGOODSLAVE.
        def replica_ready() -> bool:
            replicas = sentinel.sentinel_slaves(MASTER)
            return bool(replicas) and replicas[0].get("is_slave") and not replicas[0].get("is_disconnected") \
                and replicas[0].get("master-link-status") == "ok"

        wait_for(replica_ready, 30, 0.2, "the sentinel to know the replica as a good one")
        return {"url": f"sentinel://127.0.0.1:{s_port}/0", "master": master, "replica": replica, "sentinel": sentinel,
                "ports": (m_port, r_port)}

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def fail_over(cluster: dict) -> None:
    """SENTINEL FAILOVER, then wait until SENTINEL MASTERS (what redis-py's discovery reads; it
    switches a moment after GET-MASTER-ADDR-BY-NAME) names the promoted replica."""
    cluster["sentinel"].execute_command("SENTINEL", "FAILOVER", MASTER)
    wait_for(lambda: int(cluster["sentinel"].sentinel_masters()[MASTER]["port"]) == cluster["ports"][1]
             and cluster["replica"].info("replication")["role"] == "master", 60, 0.2, "the replica to be promoted")


def test_a_sentinel_url_needs_the_master_name():
    with pytest.raises(SettingsError, match="RAMP_REDIS_SENTINEL_MASTER"):
        load_settings(_env_file=None, redis_url="sentinel://127.0.0.1:26379;sentinel://127.0.0.1:26380")


def test_quota_writes_leave_an_old_master_the_sentinels_replaced(settings, sentinel_set):
    cluster = sentinel_set(demotable=False)
    s: Settings = settings.model_copy(update={"redis_url": cluster["url"], "redis_sentinel_master": MASTER})
    client = redis_from_settings(s)
    day = Keys(s.key_prefix).day
    client.hincrby(day, "probe", 1)  # an open connection to the original master
    assert cluster["master"].hget(day, "probe") == "1"
    fail_over(cluster)
    assert cluster["master"].info("replication")["role"] == "master"  # split brain: it still takes writes
    client.recheck_s = 0.0  # what a second does, now: the next command asks the Sentinels first
    client.hincrby(day, "probe", 1)
    # redis-py alone would reuse the idle connection to the old master and the charge would be lost
    # when it is finally demoted; ours lands on the new master.
    assert cluster["replica"].hget(day, "probe") == "2" and cluster["master"].hget(day, "probe") == "1"


def test_workers_follow_the_master_through_a_failover(settings, moto_ses, workers, sentinel_set):
    cluster = sentinel_set()
    s: Settings = settings.model_copy(update={"redis_url": cluster["url"], "redis_sentinel_master": MASTER})
    workers(count=1, concurrency=2, s=s, supervised=True)

    def send(tag, n):
        p = Producer(s)
        ids = {m.id for m in p.enqueue_many({"to": [f"{tag}{i}@example.com"], "subject": tag, "text": "x", "kind": "transactional"}
                                            for i in range(n))}
        p.close()
        return ids

    before = send("before", 10)
    wait_for(lambda: len(accepted_by_moto(moto_ses, before)) == 10, 60, 0.2, "the first batch through the original master")
    fail_over(cluster)
    # The planned-failover procedure the README gives: the Sentinels demote the old master a few
    # seconds after promoting the replica; wait for that before sending on.
    wait_for(lambda: cluster["master"].info("replication")["role"] == "slave", 60, 0.2, "the old master to be demoted")
    after = send("after", 10)  # the producer asks the Sentinel and writes to the new master
    wait_for(lambda: len(accepted_by_moto(moto_ses, after)) == 10, 120, 0.2, "the second batch through the promoted master")
    assert len(accepted_by_moto(moto_ses, before | after)) == 20  # each exactly once
    # The day's budget moved with the data: the promoted master counts all 20 sends.
    assert int(cluster["replica"].hget(Keys(s.key_prefix).day, "sent")) == 20
