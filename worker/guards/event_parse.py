"""Reading SES events: an SQS body (SNS-wrapped or raw) into the effects ses-ramp stores."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ses_ramp.producers.campaigns.content import PROBE_TAG
from ses_ramp.worker.guards import dedupe

EVENT_TYPES = {"Send", "Delivery", "Bounce", "Complaint", "Reject", "DeliveryDelay", "Open", "Click", "RenderingFailure", "Subscription"}


class MalformedEvent(ValueError):
    """An SQS message that is not an SES event we can read."""


@dataclass
class Effects:
    counts: dict[str, int] = field(default_factory=dict)
    suppress: list[str] = field(default_factory=list)
    send_ids: list[str] = field(default_factory=list)
    deferral: bool = False
    unsubscribe: list[tuple[str, str]] = field(default_factory=list)  # (list, address): SES list management opt-outs
    mail_ms: int = 0  # when SES accepted the message: the event counts on that send day
    delay_type: str | None = None
    addresses: list[str] = field(default_factory=list)  # the recipients the counts are about (per-provider counts)
    identity: str = ""  # what makes this event itself (dedupe.identity): a redelivery has the same
    ses_id: str = ""  # SES's message id
    configuration_set: str = ""  # the route it went by (SES's `ses:configuration-set` tag)
    outgoing_ip: str = ""  # the IP that delivered it (SES's `ses:outgoing-ip` tag, Delivery events)
    probe: str = ""  # the campaign whose probe sample the message belongs to (our PROBE_TAG), or ""


def parse_event(body: str) -> dict[str, Any]:
    """The SES event in an SQS body, SNS-wrapped or raw. Raises MalformedEvent."""
    try:
        obj = json.loads(body)
        if isinstance(obj, dict) and obj.get("Type") == "Notification":
            obj = json.loads(obj["Message"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedEvent(f"not JSON or not an SNS notification: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedEvent("event is not a JSON object")
    kind = obj.get("eventType") or obj.get("notificationType")
    if kind not in EVENT_TYPES:
        raise MalformedEvent(f"unknown event type {kind!r}")
    if not isinstance(obj.get("mail"), dict):
        raise MalformedEvent(f"{kind} event without a mail object")
    obj["eventType"] = kind
    return obj


def effects_of(event: dict[str, Any]) -> Effects:
    kind, mail = event["eventType"], event["mail"]
    fx = Effects(mail_ms=mail_ms(event), identity=dedupe.identity(event), ses_id=str(mail.get("messageId") or ""),
                 configuration_set=ses_tag(mail, "ses:configuration-set"), probe=ses_tag(mail, PROBE_TAG))
    try:
        if kind == "Send":
            fx.counts["sends"] = max(1, len(mail.get("destination") or []))
            fx.addresses = list(mail.get("destination") or [])
            tag = (mail.get("tags") or {}).get("message_id")
            if tag:
                fx.send_ids.extend(tag if isinstance(tag, list) else [tag])
        elif kind == "Delivery":
            fx.addresses = list(event["delivery"].get("recipients") or [])
            fx.counts["deliveries"] = len(fx.addresses) or 1
            fx.outgoing_ip = ses_tag(mail, "ses:outgoing-ip")
        elif kind == "Bounce":
            bounce = event["bounce"]
            addrs = fx.addresses = [r["emailAddress"] for r in bounce.get("bouncedRecipients") or []]
            if bounce.get("bounceSubType") == "OnAccountSuppressionList":
                # SES dropped it without sending: the address is on the account's suppression list. Not a
                # receiver's bounce, so not the IP's hard-bounce rate; suppressed here too, never charged again.
                fx.counts["account_suppressed"] = len(addrs) or 1
                fx.suppress.extend(addrs)
            elif bounce.get("bounceType") == "Permanent":
                fx.counts["hard_bounces"] = len(addrs) or 1
                fx.suppress.extend(addrs)
            else:  # Transient / Undetermined: the receiver said "not now"
                fx.counts["soft_bounces"] = len(addrs) or 1
                fx.deferral = True
        elif kind == "Complaint":
            addrs = fx.addresses = [r["emailAddress"] for r in event["complaint"].get("complainedRecipients") or []]
            fx.counts["complaints"] = len(addrs) or 1
            fx.suppress.extend(addrs)
        elif kind == "Reject":
            fx.counts["rejects"] = 1
            fx.addresses = list(mail.get("destination") or [])[:1]
        elif kind == "Subscription":
            # SES's subscription management: a contact opted out of a topic, or of the whole list.
            sub = event["subscription"]
            contact_list = sub["contactList"]
            prefs = sub.get("newTopicPreferences") or {}
            addresses = mail.get("destination") or []
            lists = [contact_list] if prefs.get("unsubscribeAll") else []
            lists += [f"{contact_list}/{t['topicName']}" for t in prefs.get("topicSubscriptionStatus") or []
                      if str(t.get("subscriptionStatus", "")).replace("_", "").lower() == "optout"]
            fx.unsubscribe.extend((list_id, a) for list_id in lists for a in addresses)
        elif kind == "DeliveryDelay":
            fx.addresses = [r["emailAddress"] for r in event["deliveryDelay"].get("delayedRecipients") or [] if "emailAddress" in r]
            fx.counts["delays"] = len(event["deliveryDelay"].get("delayedRecipients") or []) or 1
            fx.delay_type = str(event["deliveryDelay"].get("delayType") or "Undetermined")
            fx.deferral = True
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedEvent(f"{kind} event missing {exc}") from None
    return fx


def ses_tag(mail: dict[str, Any], name: str) -> str:
    """The first value of one of SES's own tags in `mail.tags` (a list of strings per name), or ""."""
    value = (mail.get("tags") or {}).get(name) if isinstance(mail.get("tags"), dict) else None
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "")


def mail_ms(event: dict[str, Any]) -> int:
    """When SES accepted the message an event is about (`mail.timestamp`), epoch ms; 0 if unreadable."""
    try:
        return int(datetime.fromisoformat(str(event["mail"]["timestamp"]).replace("Z", "+00:00")).timestamp() * 1000)
    except (KeyError, TypeError, ValueError):
        return 0
