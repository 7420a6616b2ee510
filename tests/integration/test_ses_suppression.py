"""SES's account-level suppression list (issue 26): imported by `ramp suppress sync-ses`, so ses-ramp neither
sends nor charges mail SES would drop; and SES's `OnAccountSuppressionList` bounces counted apart from the
receivers' hard bounces. moto has no suppression list: SES's real response shape through botocore's Stubber."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber

from ses_ramp.producers import Producer, SuppressedRecipient
from ses_ramp.worker.budget import cohorts
from ses_ramp.worker.guards.events import EventStore, handle_body
from ses_ramp.worker.ops.suppression import sync_ses
from ses_ramp.worker.send.transports.ses_api import ses_client


def summary(address: str, reason: str = "BOUNCE") -> dict:
    return {"EmailAddress": address, "Reason": reason, "LastUpdateTime": datetime(2026, 11, 30, tzinfo=UTC)}


def test_sync_ses_imports_every_page_and_the_producer_then_refuses_them(settings, runtime):
    ses = ses_client(settings)
    with Stubber(ses) as stub:
        stub.add_response("list_suppressed_destinations",
                          {"SuppressedDestinationSummaries": [summary("Gone@Example.com"), summary("angry@example.com", "COMPLAINT")],
                           "NextToken": "page-2"}, {"PageSize": 1000})
        stub.add_response("list_suppressed_destinations", {"SuppressedDestinationSummaries": [summary("gone2@example.com")]},
                          {"PageSize": 1000, "NextToken": "page-2"})
        assert sync_ses(runtime, ses) == (3, 3)
        stub.assert_no_pending_responses()
    with Stubber(ses) as stub:  # again: nothing new
        stub.add_response("list_suppressed_destinations", {"SuppressedDestinationSummaries": [summary("gone@example.com")]},
                          {"PageSize": 1000})
        assert sync_ses(runtime, ses) == (1, 0)
    p = Producer(settings)
    try:
        with pytest.raises(SuppressedRecipient, match="gone@example.com"):
            p.enqueue({"to": ["gone@example.com"], "subject": "s", "text": "t"})
    finally:
        p.close()


def test_an_on_account_suppression_list_bounce_is_counted_apart_and_never_as_a_hard_bounce(settings, runtime):
    now_ms = runtime.budget.now_ms()
    stamp = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # SES's Bounce event for an address on the account's suppression list (SES's documented subtype).
    event = {"eventType": "Bounce", "mail": {"timestamp": stamp, "messageId": "0100-sup-1", "destination": ["dropped@example.com"],
                                             "tags": {"ses:configuration-set": ["ses-ramp"], "message_id": ["m-1"]}},
             "bounce": {"bounceType": "Permanent", "bounceSubType": "OnAccountSuppressionList",
                        "bouncedRecipients": [{"emailAddress": "dropped@example.com"}], "timestamp": stamp}}
    store = EventStore(runtime.client, runtime.budget.keys, settings.day_timezone, runtime.budget.known)
    handle_body(store, runtime.budget, json.dumps({"Type": "Notification", "Message": json.dumps(event)}), now_ms)
    day = cohorts.read(runtime.client, runtime.budget.keys, cohorts.send_day(now_ms, settings.day_timezone))
    assert day["account_suppressed"] == 1 and day["hard_bounces"] == 0
    assert runtime.client.sismember(runtime.budget.keys.suppressed, "dropped@example.com")
