"""SES event JSON as SES publishes it through a configuration set to SNS (shapes from the SES
developer guide's event publishing examples), wrapped in the SNS notification SQS receives."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime


def _mail(message_id: str, destination: list[str], tags: dict[str, list[str]] | None = None, sent_at: datetime | None = None) -> dict:
    now = (sent_at or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "timestamp": now,
        "source": "sender@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": f"0100018c{uuid.uuid4().hex[:24]}-000000",
        "destination": destination,
        "headersTruncated": False,
        "tags": {"ses:configuration-set": ["ses-ramp"], "ses:source-ip": ["192.0.2.0"], **(tags or {})},
    }


def send(message_id: str, destination: list[str], sent_at: datetime | None = None) -> dict:
    return {"eventType": "Send", "mail": _mail(message_id, destination, {"message_id": [message_id]}, sent_at), "send": {}}


def delivery(destination: list[str], sent_at: datetime | None = None, tags: dict[str, list[str]] | None = None) -> dict:
    return {"eventType": "Delivery", "mail": _mail("x", destination, tags, sent_at=sent_at),
            "delivery": {"timestamp": "2026-11-27T12:00:01.000Z", "processingTimeMillis": 900, "recipients": destination,
                         "smtpResponse": "250 2.0.0 OK", "reportingMTA": "a8-70.smtp-out.amazonses.com"}}


def bounce(address: str, permanent: bool = True, sent_at: datetime | None = None, tags: dict[str, list[str]] | None = None) -> dict:
    return {
        "eventType": "Bounce",
        "bounce": {
            "feedbackId": f"0100018c-{uuid.uuid4().hex}",
            "bounceType": "Permanent" if permanent else "Transient",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "5.1.1" if permanent else "4.4.7",
                                   "diagnosticCode": "smtp; 550 5.1.1 user unknown" if permanent else "smtp; 421 try later"}],
            "timestamp": "2026-11-27T12:00:00.000Z",
            "reportingMTA": "dsn; mta.example.com",
        },
        "mail": _mail("x", [address], tags, sent_at=sent_at),
    }


def complaint(address: str, sent_at: datetime | None = None) -> dict:
    return {
        "eventType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": address}], "timestamp": "2026-11-27T12:00:00.000Z",
                      "feedbackId": f"0100018c-{uuid.uuid4().hex}", "complaintFeedbackType": "abuse"},
        "mail": _mail("x", [address], sent_at=sent_at),
    }


def delivery_delay(address: str, delay_type: str = "TransientCommunicationFailure", sent_at: datetime | None = None) -> dict:
    return {
        "eventType": "DeliveryDelay",
        "deliveryDelay": {"timestamp": "2026-11-27T12:00:00.000Z", "delayType": delay_type,
                          "expirationTime": "2026-11-28T12:00:00.000Z", "delayedRecipients": [{"emailAddress": address, "status": "4.4.1"}]},
        "mail": _mail("x", [address], sent_at=sent_at),
    }


def subscription(address: str, contact_list: str, topics_out: list[str], unsubscribe_all: bool = False) -> dict:
    """A contact opted out through SES's subscription management (its one-click header or its page)."""
    return {
        "eventType": "Subscription",
        "mail": _mail("x", [address]),
        "subscription": {
            "contactList": contact_list,
            "timestamp": "2026-11-27T12:00:00.000Z",
            "source": "UnsubscribeHeader",
            "newTopicPreferences": {"unsubscribeAll": unsubscribe_all,
                                    "topicSubscriptionStatus": [{"topicName": t, "subscriptionStatus": "OptOut"} for t in topics_out]},
            "oldTopicPreferences": {"unsubscribeAll": False,
                                    "topicSubscriptionStatus": [{"topicName": t, "subscriptionStatus": "OptIn"} for t in topics_out]},
        },
    }


def sns(event: dict) -> str:
    """The SQS message body SNS delivers (raw message delivery off)."""
    return json.dumps({
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-ramp-events",
        "Message": json.dumps(event),
        "Timestamp": "2026-11-27T12:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    })
