"""Redis at maxmemory (noeviction), for real (issue 22, item 7): a worker starts, says in one line
that Redis is out of memory, keeps every message findable, and sends them all once memory is freed."""

import redis

from ses_ramp.producers import Producer
from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port
from tests.helpers import WorkerPool, accepted_by_moto, ramp_id, wait_for


def test_at_maxmemory_nothing_is_lost_and_sending_resumes_by_itself(settings, moto_ses, tmp_path):
    server = EmbeddedRedis(free_port(), tmp_path / "r", persist=False).start()
    pool = None
    try:
        s = settings.model_copy(update={"redis_url": server.url})
        client = redis.Redis.from_url(server.url, decode_responses=True)
        p = Producer(s)
        ids = {r.id for r in p.enqueue_many([{"to": [f"m{i}@example.com"], "subject": f"s{i}", "text": "t"} for i in range(5)])}
        p.close()
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", str(client.info("memory")["used_memory"] + 256 * 1024))
        i = 0
        while True:  # fill to the limit with a key of our own
            try:
                client.set(f"filler:{i}", "x" * 16384)
            except redis.exceptions.OutOfMemoryError:
                break
            i += 1
        # Started without waiting for a ping: Celery's control replies need memory too.
        pool = WorkerPool(s, tmp_path, 1, 1, {})
        pool.start_one(0)
        wait_for(lambda: "Redis out of memory" in pool.logs(), 60, 0.2, "the worker to say Redis is out of memory")
        assert accepted_by_moto(moto_ses, ids) == []
        client.delete(*(f"filler:{j}" for j in range(i)))  # an operator frees memory
        wait_for(lambda: {ramp_id(m) for m in accepted_by_moto(moto_ses, ids)} == ids, 90, 0.2, "every message sent")
        from ses_ramp.config.keys import Keys

        assert client.hlen(Keys(s.key_prefix).dead) == 0
        assert len(accepted_by_moto(moto_ses, ids)) == len(ids)  # each once
        assert all(proc.poll() is None for proc in pool.procs)
    finally:
        if pool is not None:
            pool.stop()
        server.stop()
