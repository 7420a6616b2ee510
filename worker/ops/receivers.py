"""The mailbox providers of `ramp simulate`, and SES between them and the worker.

As in production, SES accepts every message the worker hands it: the receivers' answers never reach
the worker. They come back later as SES events (Send, Delivery, DeliveryDelay, Bounce, Complaint),
each due some simulated seconds or hours after the send, and the simulation feeds them through the
real events handler (`guards/events.apply_event`) when their time comes, as `ramp events` would.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ses_ramp.producers.message import Message

# How much growth over the volume they already trust receivers accept before they defer (421):
# consumer mailbox providers tolerate about a doubling, strict B2B filters much less (the seed's
# 1.5x-2.0x versus 1.2x).
PROFILE_TOLERANCE = {"consumer": 2.0, "b2b": 1.3}
# Each provider's part of that tolerance: Microsoft's filters are the strictest with a new IP (its
# 421 4.7.650 "rate limited due to IP reputation" is the warm-up's most common deferral), Yahoo a
# little stricter than Google. A provider's tolerance is 1 + (profile tolerance - 1) x this.
PROVIDER_STRICTNESS = {"google": 1.0, "microsoft": 0.6, "yahoo": 0.9, "apple": 1.0, "other": 1.0}
# The domain each provider's simulated recipients are at (`other`: no provider of its own).
SIM_DOMAINS = {"google": "gmail.com", "microsoft": "outlook.com", "yahoo": "yahoo.com", "apple": "icloud.com",
               "other": "example.com"}
_PROVIDER_OF_DOMAIN = {d: p for p, d in SIM_DOMAINS.items()}


def sim_provider_of(address: str) -> str:
    """The provider a simulated recipient belongs to (by its `SIM_DOMAINS` domain)."""
    return _PROVIDER_OF_DOMAIN.get(address.rpartition("@")[2], "other")

# Event lags after SES accepted the message (simulated seconds): a hard bounce comes back within
# seconds, a delivery a little later; SES reports a DeliveryDelay after its first retries and keeps
# retrying for hours; a complaint comes when a person reads the mail.
BOUNCE_LAG_S = 2
DELIVERY_LAG_S = 4
DELAY_LAG_S = 15 * 60
RETRY_DELIVERED_LAG_S = (3600, 6 * 3600)
GIVE_UP_SHARE = 0.1  # of the delayed recipients, those SES gives up on: a transient Bounce instead of a Delivery
COMPLAINT_LAG_S = (1800, 4 * 3600)


@dataclass
class ReceiverModel:
    """Mailbox providers as a cold IP meets them.

    * Deferrals: receivers trust the IP's best clean day so far. As today's volume passes
      `tolerance` x that, the share of recipients they defer (421, which SES turns into a
      DeliveryDelay event of type TransientCommunicationFailure and retries) climbs from 1% towards 90%.
    * Each mailbox provider (by the recipient's domain, `SIM_DOMAINS`) trusts the IP on its own: its
      own best clean day, its own tolerance (`PROVIDER_STRICTNESS`: Microsoft the strictest).
    * `slow_day`: from that day, for `slow_days` days, `slow_provider` defers `slow_share` of its mail
      whatever the volume (a provider having a bad week with the IP). Without `slow_provider`, a
      provider with `slow_provider_share` of the recipients has a bad day.
    * Bounces: hard bounces at the list-hygiene rate (`dirty_bounce_rate` on `dirty_day`: that day's mail is the
      unverified list). With `dirty_local` set (the simulated probe holds the list apart), only the unverified
      list's own addresses (local part starting with it) bounce at that rate, whenever they are sent.
    * Complaints: at `complaint_rate` of delivered recipients, as Complaint events, except Gmail's: Gmail runs
      no feedback loop for SES, so its users' "Report spam" (at `gmail_spam_rate`, else `complaint_rate`)
      is only counted per day (`gmail`: day -> [delivered, reported]), which Postmaster Tools publishes.
    * Memory: a day whose hard-bounce rate passes 3% halves the trust receivers give (spam traps and
      unknown users are what they judge a new IP by), so a dirty list costs deferrals for days.
    """

    seed: int = 7
    tolerance: float = 2.0
    bounce_rate: float = 0.005
    complaint_rate: float = 0.0001
    gmail_spam_rate: float | None = None
    dirty_day: int | None = None
    dirty_bounce_rate: float = 0.12
    dirty_local: str | None = None
    slow_day: int | None = None
    slow_share: float = 0.3
    slow_provider_share: float = 0.5
    slow_provider: str | None = None
    slow_days: int = 1
    mix: dict[str, float] = field(default_factory=lambda: {"other": 1.0})  # the recipients' mix, for the floors
    gmail: dict[int, list[int]] = field(default_factory=dict)
    trusted: dict[str, int] = field(default_factory=dict)
    today: dict[str, int] = field(default_factory=dict)
    bounced_today: int = 0
    day: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def new_day(self, day: int) -> None:
        sent = sum(self.today.values())
        dirty = sent and self.bounced_today / sent > 0.03
        for p in set(self.trusted) | set(self.today):
            self.trusted[p] = self.trusted.get(p, 0) // 2 if dirty else max(self.trusted.get(p, 0), self.today.get(p, 0))
        self.today, self.bounced_today, self.day = {}, 0, day

    def slow(self, provider: str) -> bool:
        if self.slow_day is None or not self.slow_day <= self.day < self.slow_day + self.slow_days:
            return False
        return self.slow_provider in (None, provider)

    def deferral_p(self, provider: str = "other") -> float:
        tolerance = 1 + (self.tolerance - 1) * PROVIDER_STRICTNESS.get(provider, 1.0)
        allowed = max(100.0 * self.mix.get(provider, 0.0), 10.0, self.trusted.get(provider, 0) * tolerance)
        p = min(0.9, 0.01 + 2.0 * max(0.0, self.today.get(provider, 0) / allowed - 1.0))
        if self.slow(provider):
            p = max(p, self.slow_share * (self.slow_provider_share if self.slow_provider is None else 1.0))
        return p

    def hard_bounce_p(self, address: str = "") -> float:
        if self.dirty_local is not None:
            return self.dirty_bounce_rate if address.startswith(self.dirty_local) else self.bounce_rate
        return self.dirty_bounce_rate if self.day == self.dirty_day else self.bounce_rate

    def fates(self, addresses: list[str], trusted_pool: bool = False) -> dict[str, list[str]]:
        """Each recipient's fate: bounced, delivered, or delayed (then delivered on a retry, or given up
        on by SES); and who of the delivered complains. `trusted_pool`: the overflow route, modelled as
        IPs receivers already trust (SES's shared pool): the base 1% of deferrals whatever the volume,
        and its volume is no part of what receivers learn about the dedicated IP. The list is the same
        list: it bounces and draws complaints as much."""
        out: dict[str, list[str]] = {"bounced": [], "delayed": [], "delivered": [], "complained": [], "given_up": []}
        provider = sim_provider_of(addresses[0]) if addresses else "other"
        pb = self.hard_bounce_p(addresses[0] if addresses else "")  # a simulated message goes to one list
        pd = 0.01 if trusted_pool else self.deferral_p(provider)  # a simulated message goes to one provider
        gmail = provider == "google"
        pc = self.gmail_spam_rate if gmail and self.gmail_spam_rate is not None else self.complaint_rate
        for address in addresses:
            r = self.rng.random()
            if r < pb:
                out["bounced"].append(address)
                continue
            if self.rng.random() < pd:
                out["delayed"].append(address)
                if self.rng.random() < GIVE_UP_SHARE:
                    out["given_up"].append(address)
                    continue
            else:
                out["delivered"].append(address)
            if self.rng.random() < pc:
                out["complained"].append(address)
        if gmail:
            tally = self.gmail.setdefault(self.day, [0, 0])
            tally[0] += len(out["delivered"]) + len(out["delayed"]) - len(out["given_up"])
            tally[1] += len(out["complained"])
        if not trusted_pool:
            self.today[provider] = self.today.get(provider, 0) + len(addresses)
            self.bounced_today += len(out["bounced"])
        return out


def ses_event(kind: str, sent_ms: int, message_id: str, recipients: list[str], bounce_type: str = "Permanent",
              configuration_set: str = "simulated", tags: dict[str, str] | None = None) -> dict[str, Any]:
    """An SES event as the configuration set publishes it (the fields the events handler reads); `tags`: the
    message's own SES tags, which SES echoes in every event."""
    stamp = datetime.fromtimestamp(sent_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event: dict[str, Any] = {"eventType": kind, "mail": {
        "timestamp": stamp, "messageId": f"sim-{uuid.uuid4().hex[:16]}", "destination": recipients,
        "tags": {**{k: [v] for k, v in (tags or {}).items()}, "ses:configuration-set": [configuration_set], "message_id": [message_id]}}}
    if kind == "Send":
        event["send"] = {}
    elif kind == "Delivery":
        event["delivery"] = {"recipients": recipients, "smtpResponse": "250 2.0.0 OK"}
    elif kind == "DeliveryDelay":
        event["deliveryDelay"] = {"delayType": "TransientCommunicationFailure",
                                  "delayedRecipients": [{"emailAddress": a, "status": "4.7.0"} for a in recipients]}
    elif kind == "Bounce":
        event["bounce"] = {"bounceType": bounce_type, "bounceSubType": "General",
                           "bouncedRecipients": [{"emailAddress": a, "status": "5.1.1" if bounce_type == "Permanent" else "4.4.7"}
                                                 for a in recipients]}
    elif kind == "Complaint":
        event["complaint"] = {"complainedRecipients": [{"emailAddress": a} for a in recipients]}
    return event


class SimulatedSes:
    """The transport the simulated Sender calls. Like SES, it accepts every message, then decides with
    the receiver model what each recipient's receiver does, and schedules the events SES would publish."""

    name = "simulated"

    def __init__(self, model: ReceiverModel, now_ms, configuration_set: str = "simulated") -> None:
        self.model = model
        self.now_ms = now_ms  # the simulation's clock (the scripts' time)
        self.configuration_set = configuration_set  # the dedicated route's; any other is the overflow route
        self._due: list[tuple[int, int, dict[str, Any]]] = []  # (due ms, tie-break, event)
        self._order = itertools.count()

    def send(self, message: Message, claim) -> str:
        route = claim()
        sent_ms, m = self.now_ms(), self.model
        fates = m.fates([str(a) for a in message.recipients], trusted_pool=route != self.configuration_set)

        def at(lag_s: float, kind: str, recipients: list[str], bounce_type: str = "Permanent") -> None:
            if recipients:
                event = ses_event(kind, sent_ms, message.id, recipients, bounce_type, route, message.tags)
                heapq.heappush(self._due, (sent_ms + int(lag_s * 1000), next(self._order), event))

        at(0, "Send", [str(a) for a in message.recipients])
        at(BOUNCE_LAG_S, "Bounce", fates["bounced"])
        at(DELIVERY_LAG_S, "Delivery", fates["delivered"])
        at(DELAY_LAG_S, "DeliveryDelay", fates["delayed"])
        retried_s = m.rng.uniform(*RETRY_DELIVERED_LAG_S)
        at(retried_s, "Delivery", [a for a in fates["delayed"] if a not in fates["given_up"]])
        at(retried_s, "Bounce", fates["given_up"], bounce_type="Transient")
        complaint_lag_s = m.rng.uniform(*COMPLAINT_LAG_S)  # drawn for every message: the same seed, the same run
        if sim_provider_of(str(message.recipients[0])) != "google":  # Gmail's reports are Postmaster Tools' figures
            at(complaint_lag_s, "Complaint", fates["complained"])
        return f"sim-{uuid.uuid4().hex[:12]}"

    def due(self, until_ms: int) -> list[dict[str, Any]]:
        """The events whose time has come, oldest first."""
        out = []
        while self._due and self._due[0][0] <= until_ms:
            out.append(heapq.heappop(self._due)[2])
        return out

    def account_quota(self) -> None:
        return None
