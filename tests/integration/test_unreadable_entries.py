"""What no task can read (issue 22, items 3 and 4): a queue entry that is not JSON, a message in a
refused content type, a task name no worker knows. Each becomes a dead letter with its reason and
raw text, and the worker goes on consuming: a real worker, a real Redis."""

import json

from ses_ramp.producers import Producer
from ses_ramp.producers.wire import SEND_TASK
from ses_ramp.worker.app import create_app
from tests.helpers import accepted_by_moto, wait_for


def dead_letters(redis_client, settings):
    from ses_ramp.config.keys import Keys

    return [json.loads(v) for v in redis_client.hvals(Keys(settings.key_prefix).dead)]


def test_unreadable_entries_are_dead_lettered_and_the_worker_keeps_consuming(settings, moto_ses, workers, redis_client):
    pool = workers(1)
    queue = f"{settings.key_prefix}:q:bulk"
    for i in range(3):  # more than one: the worker must survive each
        redis_client.lpush(queue, f"garbage-{i} {{not json")
    app = create_app(settings)
    try:
        pickled = Producer(settings).prepare({"to": ["p@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"}).to_wire()
        app.send_task(SEND_TASK, args=[pickled], serializer="pickle", queue="bulk", exchange="", routing_key="bulk")
        app.send_task("ses_ramp.no_such_task", args=[{}], queue="bulk", exchange="", routing_key="bulk")
    finally:
        app.close()
    receipt = Producer(settings).enqueue({"to": ["after@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"})

    wait_for(lambda: accepted_by_moto(moto_ses, {receipt.id}), 60, what="the message queued after the garbage to be sent")
    dead = wait_for(lambda: (d := dead_letters(redis_client, settings)) and len(d) >= 5 and d, 30, what="five dead letters")
    errors = sorted(e["error"] for e in dead)
    assert sum("unreadable queue entry (not JSON" in e for e in errors) == 3
    assert sum("refused message" in e and "pickle" in e for e in errors) == 1
    assert sum("unknown task" in e and "ses_ramp.no_such_task" in e for e in errors) == 1
    raws = {e["message"].get("unreadable", "") for e in dead}
    assert {f"garbage-{i} {{not json" for i in range(3)} <= raws
    assert all(p.poll() is None for p in pool.procs), "the worker must still be running"
    assert "Unrecoverable error" not in pool.logs()
