"""Recipients ses-ramp knows (issue 26, in part): SES's Delivery events record a digest of each delivered
address with its day; a recipient delivered to within RAMP_KNOWN_RECIPIENT_DAYS is known, any other new; the
fleet duty forgets what is older. Counted once however often SQS redelivers the event."""

from __future__ import annotations

import json

from ses_ramp.producers import known
from ses_ramp.worker.guards.events import EventStore, handle_body
from ses_ramp.worker.ops.receivers import ses_event


def deliver(settings, runtime, addresses, at_ms):
    store = EventStore(runtime.client, runtime.budget.keys, settings.day_timezone, runtime.budget.known)
    body = json.dumps({"Type": "Notification", "Message": json.dumps(ses_event("Delivery", at_ms, "m-1", addresses))})
    for _ in range(2):  # SQS delivers at least once
        handle_body(store, runtime.budget, body, at_ms)


def test_delivered_recipients_are_known_for_the_window_and_then_forgotten(settings, runtime):
    k, now_ms = runtime.budget.keys, runtime.budget.now_ms()
    day_ms = known.DAY_S * 1000
    deliver(settings, runtime, ["Reader@Example.com"], now_ms - 10 * day_ms)
    deliver(settings, runtime, ["old@example.com"], now_ms - 100 * day_ms)
    assert known.known(runtime.client, k, ["reader@example.com", "old@example.com", "new@example.com"], now_ms, 90) == [True, False, False]
    assert runtime.client.hlen(k.known) == 2  # digests only, each once
    assert "reader@example.com" not in json.dumps(runtime.client.hgetall(k.known))
    assert known.forget_older(runtime.client, k, now_ms, 90) == 1
    assert runtime.client.hlen(k.known) == 1
    assert known.known(runtime.client, k, ["reader@example.com"], now_ms, 5) == [False]  # outside a shorter window
