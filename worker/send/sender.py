"""Sending one message: gate -> transport -> settle, and every outcome that can follow.

Plain code, testable without Celery. `Sender.handle` never loses a message: it ends in exactly one
of sent, duplicate (already sent), waiting/paused/deferred (in the deferred set), dead, or unconfirmed.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog
from redis.exceptions import RedisError

from ses_ramp.config import Settings
from ses_ramp.config.overflow import overflow_at_ms as overflow_at
from ses_ramp.producers.campaigns.recipients import chunk_wires
from ses_ramp.producers.errors import InvalidMessage
from ses_ramp.producers.feedback import pause_scopes
from ses_ramp.producers.message import Message, normalise_address
from ses_ramp.producers.wire import is_campaign
from ses_ramp.worker.budget.claim import Claim
from ses_ramp.worker.budget.store import CLAIMED, Budget, Decision, Gate, day_window
from ses_ramp.worker.send.campaign import RELEASING, Campaigns, ContentGone, ContentMissing
from ses_ramp.worker.send.deferrals import PAUSE_RECHECK_S, DeferralStore
from ses_ramp.worker.send.errors import Deferred, Misconfigured, Paused, Permanent, QuotaExhausted, Unconfirmed
from ses_ramp.worker.send.metrics import Metrics
from ses_ramp.worker.send.outcomes import classify
from ses_ramp.worker.send.transports.base import Transport

log = structlog.get_logger(logger_name="ses_ramp.send")

BY_PROVIDER = (Gate.PROVIDER, Gate.PROVIDER_RATE)  # gate answers that name a mailbox provider


class NotNow(Exception):
    """Raised through the transport by `claim` when the gate says wait, pause, or duplicate."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.code.name)
        self.decision = decision


@dataclass(frozen=True)
class Outcome:
    """How one delivery of a message ended. `kind` of outcome: sent, duplicate, waiting, paused,
    deferred, dead, unconfirmed."""

    outcome: str
    ses_id: str = ""
    detail: str = ""
    route: str = ""  # the configuration set a sent message went through


def hash_address(address: str) -> str:
    """Short stable hash of an address, for logs (addresses are personal data)."""
    return hashlib.sha256(normalise_address(address).encode()).hexdigest()[:12]


class Sender:
    def __init__(
        self,
        settings: Settings,
        budget: Budget,
        deferrals: DeferralStore,
        transport: Transport,
        sleep: Callable[[float], None] = time.sleep,
        campaigns: Campaigns | None = None,
    ) -> None:
        self.settings = settings
        self.budget = budget
        self.deferrals = deferrals
        self.transport = transport
        self.sleep = sleep
        self.roll_wait_s = 10.0  # how long a gate waits for another process's day roll-over
        self.overflow_waits_s = settings.overflow_waits_s  # parsed once: read for every message
        self.campaigns = campaigns or Campaigns(settings, budget.client, budget.scripts)
        self.metrics = Metrics()

    def handle(self, wire: dict[str, Any], attempt: int = 0) -> Outcome:
        started = time.perf_counter()
        try:
            message = Message.from_wire(wire)
        except InvalidMessage as exc:
            self.deferrals.dead_letter(_safe_wire(wire), attempt, f"invalid message: {exc}", self.budget.now_ms())
            outcome = Outcome("dead", detail=str(exc))
            self._log(wire.get("id", "?"), wire.get("kind", "?"), 0, outcome, started, attempt)
            return outcome
        outcome = self._handle(message, wire, attempt)
        self._log(message.id, message.kind.value, message.recipient_count, outcome, started, attempt, message)
        return outcome

    def handle_campaign_chunk(self, chunk: dict[str, Any], attempt: int = 0) -> list[Outcome]:
        """Consecutive recipients of one campaign (one task), each handled as its own message. A
        redelivered chunk (its worker died) finds the ones already sent refused as duplicates."""
        outcomes = []
        for wire in chunk_wires(chunk):
            try:
                outcomes.append(self.handle_campaign(wire, attempt))
            except RedisError:
                raise  # the whole chunk goes back to the queue; what was sent is a duplicate next time
            except Exception as exc:  # noqa: BLE001 - one recipient's bug must not cost the others their mail
                log.exception("send_task_failed", message_id=wire["id"])
                self.deferrals.dead_letter(wire, attempt, f"internal error: {exc!r}", self.budget.now_ms())
                self.campaigns.release(wire)  # dead: its campaign must still be able to finish
                outcomes.append(Outcome("dead", detail=repr(exc)))
        return outcomes

    def handle_campaign(self, wire: dict[str, Any], attempt: int = 0) -> Outcome:
        """One campaign recipient: rendered from its campaign's content, then sent as any message;
        released from the content once it no longer needs it."""
        started = time.perf_counter()
        kind = wire.get("kind", "bulk")
        try:
            message = self.campaigns.expand(wire)
        except ContentGone:
            outcome = Outcome("duplicate", detail="its campaign is settled: a leftover copy of a message already handled")
            self._log(wire["id"], kind, 1, outcome, started, attempt)
            return outcome
        except (InvalidMessage, ContentMissing) as exc:
            why = f"cannot render: {exc}" if isinstance(exc, InvalidMessage) else f"the content of campaign {exc} is gone"
            self.deferrals.dead_letter(wire, attempt, why, self.budget.now_ms())
            outcome = Outcome("dead", detail=why)
        else:
            outcome = self._handle(message, wire, attempt)
        if outcome.outcome in RELEASING and outcome.outcome != "sent":  # a sent one was released as it was settled
            self.campaigns.release(wire)
        self._log(wire["id"], kind, 1, outcome, started, attempt)
        return outcome

    def _handle(self, message: Message, wire: dict[str, Any], attempt: int) -> Outcome:
        now_ms = self.budget.now_ms
        # One clock: Redis's (the gate's and the mover's), never this host's, which may drift.
        clock_s = now_ms() / 1000 if message.expires_at is not None or attempt > 0 else 0.0
        if message.expires_at is not None and message.expires_at.timestamp() <= clock_s:
            self.deferrals.dead_letter(_kept(message, wire), attempt, "expired before it could be sent", now_ms())
            return Outcome("dead", detail="expired")
        if attempt > 0 and message.created_at.timestamp() + self.settings.retry_max_age_s < clock_s:
            self.deferrals.dead_letter(_kept(message, wire), attempt, "still deferred after RAMP_RETRY_MAX_AGE_S", now_ms())
            return Outcome("dead", detail="too old")

        # Each recipient is charged against its own provider's cap too.
        wanted = Claim(message.kind.value, message.recipient_count, message.idempotency_key or message.id, uuid.uuid4().hex,
                       self.budget.providers_of(message.recipients))
        claimed: list[Claim] = []
        routes: list[str] = []
        overflow_at_ms = overflow_at(self.overflow_waits_s, wanted.kind, int(message.created_at.timestamp() * 1000),
                                     self.budget.two_routes)
        scopes = pause_scopes(message)

        def claim() -> str:
            """Called by the transport at the last moment before the request leaves: the budget is
            reserved and the idempotency record set only then, so a crash before it leaves nothing
            ambiguous behind. Returns the configuration set the gate routed the message to."""
            decision = self._wait_for_gate(wanted, overflow_at_ms, scopes)
            if decision.code not in CLAIMED:
                raise NotNow(decision)
            claimed.append(wanted.on(decision.detail))
            overflow = self.settings.overflow_configuration_set if decision.code == Gate.OVERFLOW else None
            routes.append(overflow or self.settings.configuration_set)
            return routes[-1]

        call_started = time.perf_counter()
        try:
            ses_id = self.transport.send(message, claim)
            self.metrics.ses_call(time.perf_counter() - call_started)
        except NotNow as not_now:
            return self._not_now(not_now.decision, message, wire, attempt, wanted)
        except RedisError:
            if claimed:  # the claim stands and SES may have the message: the caller requeues, idempotency decides
                raise
            # Redis failed or refused inside the gate (a lost connection, OOM, NOREPLICAS, READONLY, the
            # roll-over lock): SES was never called. The message goes back where it came from, and a gate
            # whose reply was lost after it reserved gives its charge back (only this token's claim).
            self._give_back_lost_claim(wanted)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none escapes unbooked
            error = classify(exc, message.recipients, message.from_address)
            if not claimed:  # failed before reaching SES: nothing reserved, nothing ambiguous
                error = Permanent(str(error)) if isinstance(error, Unconfirmed) else error
            return self._failed(error, message, wire, attempt, claimed[0] if claimed else wanted)
        # A campaign recipient is released from its content in the same call (one round trip, not two).
        self.budget.settle_claim("sent", claimed[0], ses_id, release=self.campaigns.release_parts(wire) if is_campaign(wire) else None)
        return Outcome("sent", ses_id=ses_id, route=routes[-1] if routes else "")

    def _give_back_lost_claim(self, claim: Claim) -> None:
        """Refund what a gate call whose reply was lost may have reserved under `token` (a no-op when it
        reserved nothing). If Redis still refuses, the inflight record ages into "unconfirmed" on the next
        delivery and the reconciler resends it once the events prove no Send: late, never lost."""
        try:
            booked = self.budget.settle_claim("waiting", claim.on(self.budget.today()))
        except RedisError as exc:
            log.warning("gate_claim_not_refunded", idempotency_key=claim.key, error=str(exc))
        else:
            if booked:
                log.warning("gate_reply_lost_refunded", idempotency_key=claim.key)

    def _wait_for_gate(self, claim: Claim, overflow_at_ms: int = -1, scopes: str = "") -> Decision:
        """Gate once; roll the day or sleep out a short rate-limit wait in place (sub-second)."""
        for _ in range(1000):
            decision = self.budget.gate(claim.kind, claim.n, claim.key, claim.token, claim.providers, overflow_at_ms, scopes)
            self.metrics.decision(decision.code, decision.detail if decision.code in BY_PROVIDER else "")
            if decision.code == Gate.NO_DAY:
                self.budget.roll_day(self.roll_wait_s)
            elif decision.code in (Gate.RATE, Gate.PROVIDER_RATE) and decision.wait_s <= self.settings.rate_wait_inline_max_s:
                self.sleep(decision.wait_s)
            else:
                return decision
        return decision

    def _not_now(self, decision: Decision, message: Message, wire: dict[str, Any], attempt: int, claim: Claim) -> Outcome:
        if decision.code == Gate.DUPLICATE:
            state, _, value = decision.detail.partition(":")
            if state == "sent":
                return Outcome("duplicate", ses_id=value, detail="already accepted by SES")
            if state == "unconfirmed":
                return Outcome("unconfirmed", detail="already unconfirmed: waiting for SES's Send event or an operator")
            age_s = (self.budget.now_ms() - int(value.split(":")[0] or 0)) / 1000
            grace_s = 2 * self.settings.ses_timeout_s + 5  # no live SES call outlasts its timeouts
            if age_s < grace_s:
                # Another delivery of this message may still be inside its SES call: look again later.
                self.deferrals.defer(wire, attempt, grace_s - age_s + 1, "inflight elsewhere")
                return Outcome("waiting", detail="inflight elsewhere")
            claim_ms, _, token = value.partition(":")
            day = day_window(int(claim_ms or 0), self.settings.day_timezone)[0].isoformat()
            # The claim on record is that delivery's (its token and day), not this one's.
            self._keep_unconfirmed(message, wire, "a worker died during the SES call; not resent", replace(claim, token=token, day=day))
            return Outcome("unconfirmed", detail="inflight record without a result")
        if decision.code == Gate.PAUSED:
            self.deferrals.defer(wire, attempt, PAUSE_RECHECK_S, f"paused:{decision.detail}")
            return Outcome("paused", detail=decision.detail)
        # No budget now (rate, hour, day, account, its provider's): wait for the window, no attempt spent.
        # Deferred alone, so the mail of other providers behind it goes on.
        why = f"budget:{decision.code.name.lower()}" + (f":{decision.detail}" if decision.code in BY_PROVIDER else "")
        self.deferrals.defer(wire, attempt, max(decision.wait_s, 0.05), why)
        return Outcome("waiting", detail=decision.code.name.lower())

    def _failed(self, error: Exception, message: Message, wire: dict[str, Any], attempt: int, claim: Claim) -> Outcome:
        """Book a failed send. `claim.day` is empty when the failure came before the claim (nothing to refund)."""
        detail = str(error)

        def refund(outcome: str) -> None:
            if claim.day:
                self.budget.settle_claim(outcome, claim)

        if isinstance(error, Unconfirmed):
            # Keep the idempotency record and the charge: SES may have it. Never resent blindly.
            self._keep_unconfirmed(message, wire, detail, claim)
            return Outcome("unconfirmed", detail=detail)
        if isinstance(error, QuotaExhausted):
            refund("waiting")
            self.deferrals.defer(wire, attempt, 900, "ses-quota", detail)
            return Outcome("waiting", detail=detail)
        if isinstance(error, Misconfigured):
            # Nothing can go as configured: the fleet stops, the message waits, no attempt is spent.
            refund("waiting")
            self.pause_all(f"cannot send as configured: {detail}", by="ses-config")
            self.deferrals.defer(wire, attempt, PAUSE_RECHECK_S, "paused:config", detail)
            return Outcome("paused", detail=detail)
        if isinstance(error, Paused):
            refund("waiting")
            self.pause_all(f"SES answered: {detail}")
            self.deferrals.defer(wire, attempt, PAUSE_RECHECK_S, "paused:ses", detail)
            return Outcome("paused", detail=detail)
        if isinstance(error, Deferred):
            refund("deferred")
            self.on_deferral()
            next_attempt = attempt + 1
            if next_attempt >= self.settings.retry_max_attempts:
                self.deferrals.dead_letter(_kept(message, wire), next_attempt, detail, self.budget.now_ms())
                return Outcome("dead", detail=detail)
            self.deferrals.defer(wire, next_attempt, self.deferrals.backoff.delay_s(next_attempt), "deferred", detail)
            return Outcome("deferred", detail=detail)
        assert isinstance(error, Permanent)
        refund("failed")
        if error.unknown_recipients:
            self.budget.client.sadd(self.budget.keys.suppressed, *map(normalise_address, error.unknown_recipients))
        self.deferrals.dead_letter(_kept(message, wire), attempt + 1, detail, self.budget.now_ms())
        return Outcome("dead", detail=detail)

    def _keep_unconfirmed(self, message: Message, wire: dict[str, Any], detail: str, claim: Claim) -> None:
        """Park the message as unconfirmed with its claim (day, token, providers charged), which the
        reconciler or an operator settles later, and count it on the claim's day (used = sent + unconfirmed + ...)."""
        self.deferrals.unconfirmed(_kept(message, wire), detail, self.budget.now_ms(), claim.record())
        if claim.day:
            self.budget.settle_claim("unconfirmed", claim)

    def on_deferral(self) -> None:
        """A receiver said "slow down": the adaptive rate backs off (see `rate.py`)."""
        self.budget.back_off()

    def pause_all(self, reason: str, by: str = "ses") -> None:
        import json

        entry = {"by": by, "reason": reason, "at_ms": self.budget.now_ms()}
        self.budget.client.hsetnx(self.budget.keys.pause, "all", json.dumps(entry))

    def _log(
        self, message_id: str, kind: str, n: int, outcome: Outcome, started: float, attempt: int,
        message: Message | None = None,
    ) -> None:
        self.metrics.outcome(kind, outcome.outcome)
        if not log.is_enabled_for(logging.INFO):
            return  # skip hashing every recipient for a line nobody keeps
        log.info(
            "message",
            message_id=message_id,
            kind=kind,
            outcome=outcome.outcome,
            ses_id=outcome.ses_id or None,
            detail=outcome.detail or None,
            route=outcome.route or None,
            recipient_count=n,
            recipient_hashes=[hash_address(a) for a in message.recipients] if message else None,
            attempt=attempt,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )


def _kept(message: Message, wire: dict[str, Any]) -> dict[str, Any]:
    """What a dead letter or an unconfirmed record keeps: the wire message, or for a campaign
    recipient the whole rendered message (it must not depend on content that expires)."""
    return message.to_wire() if is_campaign(wire) else wire


def _safe_wire(wire: Any) -> dict[str, Any]:
    if isinstance(wire, dict) and "id" in wire:
        return wire
    import uuid

    return {"id": uuid.uuid4().hex, "invalid": repr(wire)[:2000]}


__all__ = ["Outcome", "Sender", "hash_address"]
