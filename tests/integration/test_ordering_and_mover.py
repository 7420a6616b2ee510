"""Transactional before bulk, higher engagement first, with a real worker; movers that race."""

import json
import threading

from ses_ramp.producers import Producer
from ses_ramp.worker.app import create_app
from ses_ramp.worker.fleet.mover import Mover
from tests.helpers import accepted_by_moto, ramp_id, wait_for

BIG = {"warmup_start_per_day": 1_000_000, "warmup_target_per_day": 1_000_000, "rate_per_s": 200}


def test_transactional_then_engagement_order_with_a_real_worker(settings, moto_ses, workers, runtime):
    s = settings.model_copy(update={"warmup_start_per_day": 1_000_000, "warmup_target_per_day": 1_000_000, "rate_per_s": 200})
    p = Producer(s)
    # Bulk first in time, in rising engagement; then transactional. Priority, not arrival, must decide.
    bulk = p.enqueue_many({"to": [f"b{i}@example.com"], "subject": f"bulk {i}", "text": "x", "kind": "bulk", "list": "news", "engagement": e}
                          for i, e in enumerate([0.1, 0.5, 0.95] * 10))
    tx = p.enqueue_many({"to": [f"t{i}@example.com"], "subject": f"tx {i}", "text": "x", "kind": "transactional", "engagement": e}
                        for i, e in enumerate([0.2, 0.9] * 5))
    p.close()
    kinds = {r.id: ("tx", m) for r, m in zip(tx, [0.2, 0.9] * 5)} | {r.id: ("bulk", m) for r, m in zip(bulk, [0.1, 0.5, 0.95] * 10)}
    start = len(moto_ses.sent_messages())
    workers(count=1, concurrency=1, s=s)  # one slot: the order SES sees is the order the worker took them
    wait_for(lambda: len(moto_ses.sent_messages()) - start >= 40, 60, what="all 40 sent")
    order = [kinds[i] for i in map(ramp_id, moto_ses.sent_messages()[start:]) if i in kinds]
    assert [k for k, _ in order] == ["tx"] * 10 + ["bulk"] * 30
    tx_eng = [e for k, e in order if k == "tx"]
    bulk_eng = [e for k, e in order if k == "bulk"]
    assert tx_eng == sorted(tx_eng, reverse=True) and bulk_eng == sorted(bulk_eng, reverse=True)


def test_racing_movers_never_duplicate_a_message(settings, runtime):
    app = create_app(settings)
    p = Producer(settings)
    wires = [p.prepare({"to": [f"d{i}@example.com"], "subject": "d", "text": "x", "kind": "bulk", "list": "news"}).to_wire() for i in range(600)]
    p.close()
    for w in wires:
        runtime.deferrals.defer(w, 1, 0, "deferred")
    published = []
    lock = threading.Lock()
    original = app.send_task

    def record(name, args=None, **kw):
        with lock:
            published.append(args[0]["id"])
        return original(name, args=args, **kw)

    app.send_task = record
    movers = [Mover(runtime.deferrals, app, batch=50) for _ in range(4)]
    barrier = threading.Barrier(4)

    def run(m):
        barrier.wait()
        while m.run_once():
            pass

    threads = [threading.Thread(target=run, args=(m,)) for m in movers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(published) == sorted(w["id"] for w in wires)  # each exactly once
    assert runtime.deferrals.counts()["deferred"] == 0 and runtime.client.hlen(runtime.budget.keys.payload) == 0
    app.close()


def test_mover_dead_letters_an_unreadable_payload_alone_and_a_newer_producers_fields_go_through(settings, runtime, moto_ses, workers):
    """A mixed-version fleet: a payload from a newer producer (an extra field this version does not
    know) is moved and sent; a payload nobody can read is dead-lettered alone, with its reason, and
    the rest of its batch still moves."""
    s = settings.model_copy(update=BIG)
    p = Producer(s)
    good = p.prepare({"to": ["fine@example.com"], "subject": "old", "text": "x", "kind": "bulk", "list": "news"}).to_wire()
    newer = p.prepare({"to": ["newer@example.com"], "subject": "new", "text": "x", "kind": "bulk", "list": "news",
                       "list_management": {"contact_list": "news"}}).to_wire()
    # Unknown at the top level and inside a nested object alike.
    newer.update(send_window="09:00-17:00", priority_hint=3)
    newer["list_management"]["topic_default"] = "OPT_IN"
    p.close()
    k = runtime.budget.keys
    for w in (good, newer):
        runtime.deferrals.defer(w, 1, 0, "deferred")
    now = runtime.budget.now_ms()
    runtime.client.hset(k.payload, mapping={"garbled": "{not json", "empty": json.dumps({"attempt": 2})})
    runtime.client.zadd(k.deferred, {"garbled": now, "empty": now})
    app = create_app(s)
    try:
        mover = Mover(runtime.deferrals, app, batch=50)
        assert mover.run_once() == 4
    finally:
        app.close()
    assert runtime.deferrals.counts()["deferred"] == 0
    dead = {e["message"]["id"]: e["error"] for e in runtime.deferrals.dead_entries()}
    assert set(dead) == {"garbled", "empty"} and all("unreadable deferred payload" in why for why in dead.values())
    workers(count=1, concurrency=1, s=s)
    wait_for(lambda: len(accepted_by_moto(moto_ses, {good["id"], newer["id"]})) == 2, 60, what="both readable messages sent")
