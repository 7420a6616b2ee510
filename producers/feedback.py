"""Gmail's Feedback-ID header, `a:b:c:SenderId`, on every message: Postmaster Tools reports the spam rate of
each identifier that carries enough volume, so a campaign or a list that users report is seen apart from
the rest of the domain's mail.

The fields ses-ramp writes, most specific first:
  a  the campaign id (`enqueue_campaign`), or `direct` for a message enqueued whole
  b  the list id (bulk mail), or `nolist`
  c  the kind: `transactional` or `bulk`
  SenderId  RAMP_FEEDBACK_SENDER_ID: one value for all of this sender's mail (Gmail's required field)
A message that brings its own Feedback-ID header keeps it.
"""

from __future__ import annotations

import re

from ses_ramp.producers.message import Message

NO_CAMPAIGN, NO_LIST = "direct", "nolist"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")  # a field may not hold the separator, nor anything a header folds


def campaign_of(message: Message) -> str | None:
    """The campaign a rendered campaign recipient belongs to (its idempotency key `campaign:<id>:<seq>`)."""
    key = message.idempotency_key or ""
    return key.split(":")[1] if key.startswith("campaign:") and key.count(":") == 2 else None


def feedback_id(message: Message, sender_id: str) -> str:
    fields = (campaign_of(message) or NO_CAMPAIGN, message.list_id or NO_LIST, message.kind.value, sender_id)
    return ":".join(_UNSAFE.sub("-", f) for f in fields)


def has_own(message: Message) -> bool:
    return any(name.lower() == "feedback-id" for name in message.headers)


def pause_scopes(message: Message) -> str:
    """The pause flags that stop this message alone (`list:<id>`, `campaign:<id>`): what a Feedback-ID
    Postmaster Tools flagged as spammy pauses, never the whole ramp."""
    campaign = campaign_of(message)
    return ",".join([*([f"list:{message.list_id}"] if message.list_id else []), *([f"campaign:{campaign}"] if campaign else [])])
