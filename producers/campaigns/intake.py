"""`enqueue_campaign`: check a content and its recipients, then store them once (`store.py`).

Everything is checked before anything is written: the templates compile; every recipient has a
valid address and every field the templates use; the first recipients, rendered, pass every check
a whole message passes at `enqueue` (size, headers, list and unsubscribe rules). Suppressed and
duplicate addresses are left out and counted, not refused: one unsubscribed address must not stop
a million-recipient newsletter. Recipients are stored in sending order (higher engagement first).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import redis
from redis.exceptions import RedisError

from ses_ramp.config import Settings, mask_url
from ses_ramp.config.keys import Keys
from ses_ramp.config.probe import SAMPLING, ProbePolicy
from ses_ramp.producers.campaigns import probe, store
from ses_ramp.producers.campaigns.content import CampaignContent, Templates, recipient_message
from ses_ramp.producers.campaigns.recipients import Recipient, recipient_from
from ses_ramp.producers.errors import InvalidMessage, QueueUnavailable
from ses_ramp.producers.message import Kind, Message
from ses_ramp.producers.placement import Placement
from ses_ramp.producers.providers import undeliverable_domains
from ses_ramp.producers.redis_client import describe_redis_error
from ses_ramp.producers.wire import priority_for


class Producer(Protocol):
    """What a campaign's intake needs of `enqueue.Producer` (which calls it: passed in, so this module
    never imports the one above it)."""

    settings: Settings
    keys: Keys
    placement: Placement

    def redis_client(self) -> redis.Redis: ...

    def now_ms(self) -> int: ...

    def validate(self, data: Message | dict[str, Any]) -> Message: ...

#: Recipients rendered at enqueue and checked as whole messages.
SAMPLE = 20
_CAMPAIGN_ID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
_SUPPRESSION_CHUNK = 50_000


@dataclass(frozen=True)
class CampaignReceipt:
    campaign_id: str
    content: str  # the content's hash
    kind: str
    recipients: int  # queued
    suppressed: int  # left out: on the suppression list or unsubscribed from the campaign's list
    duplicates: int  # left out: the same address again
    #: When the first and the last recipient should go out at the current ramp (ISO; None: unknown or beyond 400 days).
    first_send_date: str | None = None
    last_send_date: str | None = None
    undeliverable: int = 0  # left out: at a domain that accepts no mail (null MX, or no MX and no address record)
    new: int = 0  # recipients ses-ramp has not delivered to within RAMP_KNOWN_RECIPIENT_DAYS
    sample: int = 0  # with a probe: new recipients sent first (`config/probe.py`)...
    held: int = 0  # ...and those that wait for its verdict


def enqueue_campaign(producer: Producer, content: Any, recipients: Iterable[Any], *, campaign_id: str | None = None,
                     expire_ok: bool = False) -> CampaignReceipt:
    settings, keys = producer.settings, producer.keys
    content = _with_sender(producer, CampaignContent.parse(content))
    templates = Templates(content)
    campaign_id = campaign_id or uuid.uuid4().hex
    if not _CAMPAIGN_ID.match(campaign_id):
        raise InvalidMessage("campaign_id", "ASCII letters, digits, - and _ only, 64 at most")
    rows, duplicates = _checked(templates, (r if isinstance(r, Recipient) else recipient_from(r, f"recipient {i}")
                                            for i, r in enumerate(recipients, 1)))
    sample = [_sample_message(producer, templates, campaign_id, i, r) for i, r in enumerate(rows[:SAMPLE])]
    content = content.model_copy(update=_parsed_sender(sample[0]))
    kind = content.kind
    client = producer.redis_client()
    try:
        rows, suppressed = _without_suppressed(client, keys, rows, _lists(sample[0]))
        # Domains that accept no mail (a null MX, no MX and no address record), as the MX lookups cached them.
        nomail = undeliverable_domains(client, keys, {r.address.rpartition("@")[2] for r in rows})
        kept = [r for r in rows if r.address.rpartition("@")[2].lower() not in nomail] if nomail else rows
        undeliverable, rows = len(rows) - len(kept), kept
        if not rows:
            raise InvalidMessage("recipients", f"all recipients are suppressed or unsubscribed ({suppressed}) or at domains "
                                               f"that accept no mail ({undeliverable})")
        level = {e: priority_for(kind, e) for e in {r.engagement for r in rows}}
        rows.sort(key=lambda r: level[r.engagement])  # stable: the given order within a priority
        groups = Counter(level[r.engagement] for r in rows)
        first, last, known, taken = _places(producer, kind, groups)
        try:
            if known:
                _check_expiry(producer, content, last, expire_ok)
            parts = probe.split(client, keys, rows, ProbePolicy.from_settings(settings), campaign_id, producer.now_ms(),
                                settings.known_recipient_days)
            meta = {"suppressed": suppressed, "duplicates": duplicates, "undeliverable": undeliverable, **parts.meta(SAMPLING)}
            store.save(client, keys, campaign_id, content.sha(), content.to_json(), kind.value, [r.pack() for r in parts.flowing],
                       {f"{kind.value}:{p}": n for p, n in groups.items()}, meta, producer.now_ms(),
                       sample=[r.pack() for r in parts.sample], held=[r.pack() for r in parts.held])
        except BaseException:
            for priority, n in taken:
                producer.placement.give_back_group(kind, priority, n)
            raise
    except store.CampaignExists:
        raise InvalidMessage("campaign_id", f"campaign {campaign_id} already exists (nothing was added to it)") from None
    except RedisError as exc:
        url = settings.effective_redis_url
        raise QueueUnavailable(mask_url(url), exc, describe_redis_error(exc, url)) from None
    return CampaignReceipt(campaign_id, content.sha(), kind.value, len(rows), suppressed, duplicates,
                           first.isoformat() if first else None, last.isoformat() if last else None, undeliverable,
                           parts.new, len(parts.sample), len(parts.held))


def _with_sender(producer: Producer, content: CampaignContent) -> CampaignContent:
    if content.from_address is not None:
        return content
    if producer.settings.from_address is None:
        raise InvalidMessage("from", "no From address and RAMP_FROM_ADDRESS is not set")
    return content.model_copy(update={"from_address": str(producer.settings.from_address),
                                      "from_name": content.from_name or producer.settings.from_name})


def _parsed_sender(message: Message) -> dict[str, Any]:
    """The content's From and Reply-To as the message parser split them (bare address + name)."""
    return {"from_address": message.from_address, "from_name": message.from_name, "reply_to": message.reply_to,
            "names": {a: message.names[a] for a in message.reply_to if a in message.names}}


def _checked(templates: Templates, recipients: Iterable[Recipient]) -> tuple[list[Recipient], int]:
    """Every recipient valid and complete; duplicates (same address) left out and counted."""
    rows: list[Recipient] = []
    seen: set[str] = set()
    duplicates = 0
    for i, r in enumerate(recipients, 1):
        missing = templates.missing(r.merge)
        if missing:
            raise InvalidMessage("recipients", f"recipient {i} ({r.address}) has no {', '.join(missing)}, which the "
                                               "template uses (give every recipient every field; an empty one is fine)")
        if r.address in seen:
            duplicates += 1
            continue
        seen.add(r.address)
        rows.append(r)
    if not rows:
        raise InvalidMessage("recipients", "a campaign needs at least one recipient")
    return rows, duplicates


def _sample_message(producer: Producer, templates: Templates, campaign_id: str, i: int, r: Recipient) -> Message:
    """Recipient `i` rendered and checked as `enqueue` checks a whole message (its expiry aside)."""
    wire = {"id": f"{campaign_id}-{i}", "campaign": campaign_id, "seq": i, "to": [r.address], "name": r.name,
            "merge": r.merge, "engagement": r.engagement}
    message = recipient_message(templates, wire, trusted=False)
    return producer.validate(message.model_copy(update={"expire_ok": True}))


def _lists(message: Message) -> list[str]:
    from ses_ramp.producers.unsubscribe import suppression_lists

    return suppression_lists(message) if message.kind is Kind.bulk else []


def _without_suppressed(client: Any, keys: Any, rows: list[Recipient], lists: list[str]) -> tuple[list[Recipient], int]:
    sets = [keys.suppressed, *(keys.unsubscribed(name) for name in lists)]
    keep: list[Recipient] = []
    for start in range(0, len(rows), _SUPPRESSION_CHUNK):
        chunk = rows[start : start + _SUPPRESSION_CHUNK]
        addresses = [r.address for r in chunk]
        with client.pipeline(transaction=False) as pipe:
            for name in sets:
                pipe.smismember(name, addresses)
            answers = pipe.execute()
        keep.extend(r for j, r in enumerate(chunk) if not any(flags[j] for flags in answers))
    return keep, len(rows) - len(keep)


def _places(producer: Producer, kind: Kind, groups: Counter[int]) -> tuple[date | None, date | None, bool, list[tuple[int, int]]]:
    """The first and last recipient's estimated dates (None: beyond the horizon), whether the forecast
    could be read, and the places taken in line (one per priority group, to give back on a refusal)."""
    first = last = None
    taken: list[tuple[int, int]] = []
    for priority in sorted(groups):
        place = producer.placement.take_group(kind, priority, groups[priority])
        if place is None:  # the forecast cannot be read: no dates, never a refusal
            return None, None, False, taken
        if not taken:
            first = place[0]
        last = place[1]
        taken.append((priority, groups[priority]))
    return first, last, True, taken


def _check_expiry(producer: Producer, content: CampaignContent, last: date | None, expire_ok: bool) -> None:
    """A bulk campaign whose last recipient would go out after it expires is refused (or, with
    `expire_ok`, accepted: the worker dead-letters what expires, as for any message)."""
    if content.kind is not Kind.bulk or content.expires_at is None or expire_ok:
        return
    from zoneinfo import ZoneInfo

    expires_on = content.expires_at.astimezone(ZoneInfo(producer.settings.day_timezone)).date()
    if last is None or last > expires_on:
        when = last.isoformat() if last else "more than 400 days from now"
        raise InvalidMessage("expires_at", f"it expires on {expires_on} but its last recipient would go out on {when} at the "
                                           "current ramp (`ramp forecast`); send to fewer, or pass expire_ok to accept it anyway")
