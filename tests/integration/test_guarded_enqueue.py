"""One-by-one enqueue checks suppression inside the publish (one Lua call that LPUSHes only if no
recipient is suppressed or unsubscribed), against a real Redis; refusals are the same as before."""

import pytest

from ses_ramp.producers import Producer, SuppressedRecipient, Unsubscribed
from ses_ramp.producers.queues import queue_depths


def calls(client, *commands: str) -> dict[str, int]:
    stats = client.info("commandstats")
    return {c: stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in commands}


@pytest.fixture
def producer(settings):
    p = Producer(settings)
    yield p
    p.close()


@pytest.fixture
def alone(settings, tmp_path):
    """A Redis of this test's own: it counts every command the server ran (INFO commandstats), which other
    tests running at the same time on the shared one would add to."""
    import redis

    from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port

    server = EmbeddedRedis(free_port(), tmp_path / "redis", persist=False).start()
    s = settings.model_copy(update={"redis_url": server.url})
    p, client = Producer(s), redis.Redis.from_url(server.url)
    yield p, client, s
    p.close()
    client.close()
    server.stop()


def test_a_clean_message_is_checked_and_published_in_one_script_call(alone):
    producer, redis_client, settings = alone
    producer.enqueue({"to": ["warm@example.com"], "subject": "s", "text": "t"})  # connections and script loaded
    before = calls(redis_client, "evalsha", "smismember", "sismember", "lpush")
    receipt = producer.enqueue({"to": ["a@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"})
    after = calls(redis_client, "evalsha", "smismember", "sismember", "lpush")
    assert after["evalsha"] - before["evalsha"] == 1 and after["smismember"] == before["smismember"]
    assert after["sismember"] - before["sismember"] == 2  # the global list and the list's own
    assert after["lpush"] - before["lpush"] == 1
    assert receipt.recipients == 1 and queue_depths(redis_client, settings.key_prefix)["bulk"] == 1


def test_suppressed_and_unsubscribed_are_refused_and_nothing_is_queued(producer, redis_client, settings):
    from ses_ramp.config.keys import Keys

    keys = Keys(settings.key_prefix)
    redis_client.sadd(keys.suppressed, "gone@example.com")
    redis_client.sadd(keys.unsubscribed("news"), "left@example.com")
    with pytest.raises(SuppressedRecipient, match="gone@example.com"):
        producer.enqueue({"to": ["ok@example.com", "gone@Example.COM"], "subject": "s", "text": "t"})
    with pytest.raises(Unsubscribed, match="left@example.com"):
        producer.enqueue({"to": ["left@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"})
    assert sum(queue_depths(redis_client, settings.key_prefix).values()) == 0
    # The list's unsubscription does not stop mail on another list, nor transactional mail.
    producer.enqueue({"to": ["left@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "offers"})
    producer.enqueue({"to": ["left@example.com"], "subject": "receipt", "text": "t"})
    assert sum(queue_depths(redis_client, settings.key_prefix).values()) == 2


def test_with_drop_suppressed_recipients_the_rest_still_goes(settings, redis_client):
    from ses_ramp.config.keys import Keys

    redis_client.sadd(Keys(settings.key_prefix).suppressed, "gone@example.com")
    p = Producer(settings.model_copy(update={"drop_suppressed_recipients": True}))
    try:
        receipt = p.enqueue({"to": ["ok@example.com", "gone@example.com"], "subject": "s", "text": "t"})
    finally:
        p.close()
    assert receipt.recipients == 1 and queue_depths(redis_client, settings.key_prefix)["transactional"] == 1
