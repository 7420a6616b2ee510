"""Every accepted message is findable: one a worker holds unacknowledged shows in `ramp status`."""

from __future__ import annotations

import json

from ses_ramp.producers import Producer
from ses_ramp.worker.app import create_app
from tests.helpers import ramp


def test_status_counts_messages_a_worker_holds_unacknowledged(settings, runtime):
    p = Producer(settings)
    p.enqueue_many([{"to": [f"h{i}@example.com"], "subject": "held", "text": "x", "kind": "bulk", "list": "news"} for i in range(3)])
    p.close()
    app = create_app(settings)
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            # What a worker does on delivery with acks_late: the message moves from the queue list
            # into kombu's `unacked` hash until it is acknowledged.
            held = [channel.basic_get("bulk", no_ack=False) for _ in range(2)]
            assert all(held)
            st = json.loads(ramp(settings, "status", "--json").stdout)
            assert st["queues"]["bulk"] == 1
            assert st["unacked"]["bulk"]["count"] == 2 and st["unacked"]["transactional"]["count"] == 0
            assert 0 <= st["unacked"]["bulk"]["oldest_s"] < 60
            for message in held:
                message.ack()
            st = json.loads(ramp(settings, "status", "--json").stdout)
            assert st["unacked"]["bulk"]["count"] == 0
    finally:
        app.close()
