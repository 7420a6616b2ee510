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
        # The headroom the filler takes must be larger than what the worker's own connections then use (their
        # buffers count toward maxmemory, and a loaded machine opens and retries more of them): with only a
        # little, deleting the filler could leave Redis still over the limit, and nothing would ever resume.
        client.config_set("maxmemory", str(client.info("memory")["used_memory"] + 4 * 1024 * 1024))
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
        assert client.info("memory")["used_memory"] < int(client.config_get("maxmemory")["maxmemory"])
        wait_for(lambda: {ramp_id(m) for m in accepted_by_moto(moto_ses, ids)} == ids, 90, 0.2, "every message sent")
        from ses_ramp.config.keys import Keys

        assert client.hlen(Keys(s.key_prefix).dead) == 0
        assert len(accepted_by_moto(moto_ses, ids)) == len(ids)  # each once
        assert all(proc.poll() is None for proc in pool.procs)
    finally:
        if pool is not None:
            pool.stop()
        server.stop()


def test_a_batch_refused_part_way_names_exactly_the_messages_that_landed(settings, tmp_path):
    """Issue 22, item 7: at maxmemory a 20-message enqueue_many said "0 published; 20 unconfirmed"
    while 12 were on the queue. The error must name what Redis took, and only that, as published."""
    import json
    import os

    import pytest

    from ses_ramp.config.keys import Keys
    from ses_ramp.producers.errors import BatchPartiallyPublished
    from ses_ramp.producers.wire import PRIORITY_STEPS

    server = EmbeddedRedis(free_port(), tmp_path / "r", persist=False).start()
    try:
        s = settings.model_copy(update={"redis_url": server.url})
        client = redis.Redis.from_url(server.url, decode_responses=True)
        body_bytes = 20_000
        items = [{"to": [f"b{i}@example.com"], "subject": f"s{i}", "text": os.urandom(body_bytes // 2).hex()} for i in range(20)]
        p = Producer(s)
        ready = p.prepare_many(items)
        client.config_set("maxmemory-policy", "noeviction")
        # Room for about half of them: Redis refuses a write once used memory is over the limit.
        client.config_set("maxmemory", str(client.info("memory")["used_memory"] + 10 * body_bytes))
        with pytest.raises(BatchPartiallyPublished) as refused:
            p.publish_many(ready)
        p.close()
        on_queue = {json.loads(raw)["headers"]["id"] for name in Keys(s.key_prefix).queue_lists("transactional", PRIORITY_STEPS)
                    for raw in client.lrange(name, 0, -1)}
        assert 0 < len(on_queue) < 20
        assert set(refused.value.published) == on_queue
        assert set(refused.value.unconfirmed) == {m.id for m in ready} - on_queue
        assert f"{len(on_queue)} published" in str(refused.value)
    finally:
        server.stop()
