"""`ramp simulate`: the real schedule, gate, classifier, deferral store and breaker, run against a
receiver model in accelerated time (the scripts' clock offset is moved; nothing sleeps).

Each simulated message carries up to 50 recipients (SES's maximum), about a fortieth of the day's cap,
so 45 days at 50,000/day stay fast while small early caps are still used fully; every charge, cap
and rate is counted in recipients, as in production.
"""

from __future__ import annotations

import random
import smtplib
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ses_ramp.config import Settings
from ses_ramp.producers.message import Message
from ses_ramp.worker import pause
from ses_ramp.worker.breaker import Breaker
from ses_ramp.worker.events import Effects, EventStore
from ses_ramp.worker.runtime import Runtime

RCPT = 50


@dataclass
class ReceiverModel:
    """Mailbox providers as a cold IP meets them: a day that grows faster than `tolerance` x the
    IP's best day so far draws 421 deferrals; bounces follow list hygiene, complaints a fixed rate."""

    seed: int = 7
    tolerance: float = 2.0
    bounce_rate: float = 0.005
    complaint_rate: float = 0.0001
    dirty_day: int | None = None
    dirty_bounce_rate: float = 0.12
    best_day: int = 0
    today: int = 0
    day: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def new_day(self, day: int) -> None:
        self.best_day = max(self.best_day, self.today)
        self.today, self.day = 0, day

    def deferral_p(self) -> float:
        allowed = max(RCPT * 2, self.best_day * self.tolerance)
        return min(0.9, 0.01 + max(0.0, self.today / allowed - 1.0))

    def hard_bounce_p(self) -> float:
        return self.dirty_bounce_rate if self.dirty_day is not None and self.day == self.dirty_day else self.bounce_rate


class ReceiverTransport:
    """The transport the simulated Sender calls: answers as SMTP would (421 or accepted), and
    reports the Send/Bounce/Complaint events SES would publish."""

    name = "simulated"

    def __init__(self, model: ReceiverModel) -> None:
        self.model = model
        self.events = Effects()

    def send(self, message: Message, claim) -> str:
        claim()
        m = self.model
        if m.rng.random() < m.deferral_p():
            raise smtplib.SMTPDataError(421, b"4.7.0 Try again later: unusual volume from this IP")
        n = message.recipient_count
        m.today += n
        bounces = sum(1 for _ in range(n) if m.rng.random() < m.hard_bounce_p())
        complaints = sum(1 for _ in range(n) if m.rng.random() < m.complaint_rate)
        c = self.events.counts
        c["sends"] = c.get("sends", 0) + n
        c["hard_bounces"] = c.get("hard_bounces", 0) + bounces
        c["complaints"] = c.get("complaints", 0) + complaints
        return f"sim-{uuid.uuid4().hex[:12]}"

    def account_quota(self) -> None:
        return None


@dataclass
class DayRow:
    day: int
    date: str
    step: int
    cap: int
    demand: int
    sent: int
    deferred: int
    backlog: int
    bounce_rate: float
    complaint_rate: float
    breaker: str


def simulate(settings: Settings, runtime: Runtime, days: int, daily_demand: int, model: ReceiverModel, tx_share: float = 0.2) -> list[DayRow]:
    transport = ReceiverTransport(model)
    runtime.sender.transport = transport
    client, keys, budget = runtime.client, runtime.budget.keys, runtime.budget
    breaker = Breaker(settings, runtime)

    day_end_ms = [0]

    def advance_s(seconds: float) -> None:
        """A rate-limit wait passes simulated time (never past the simulated day's end) while the
        housekeeper's AIMD recovery keeps running, as it does every second in a real worker."""
        now = int(client.get(keys.clock_offset_ms) or 0)
        client.set(keys.clock_offset_ms, min(now + int(seconds * 1000), day_end_ms[0] - 2000))
        budget.recover()

    def move_clock_to(when: datetime) -> None:
        """Forward only: rate-limit waits may already have carried the clock past `when`."""
        target = int(when.timestamp() * 1000) - real_now
        client.set(keys.clock_offset_ms, max(target, int(client.get(keys.clock_offset_ms) or 0)))

    runtime.sender.sleep = advance_s  # rate-limit waits pass simulated time, not real time
    start = datetime(2027, 1, 4, tzinfo=timezone.utc)
    real_now = budget.now_ms() - int(client.get(keys.clock_offset_ms) or 0)
    store = EventStore(client, keys)
    queue: dict[str, deque] = {"transactional": deque(), "bulk": deque()}
    waiting = [0]  # recipients in `queue`, kept as it changes (the backlog gets large)
    rows: list[DayRow] = []
    for day in range(1, days + 1):
        day_start = start + timedelta(days=day - 1)
        move_clock_to(day_start + timedelta(seconds=1))
        model.new_day(day)
        action = ""
        if "all" in pause.flags(client, keys) or "bulk" in pause.flags(client, keys):
            pause.resume(client, keys, "all")  # the operator cleans the list and resumes the next morning
            client.hset(keys.breaker, "resumed_at_ms", budget.now_ms())
            action = "operator resumed; "
        budget.roll_day()
        per_message = max(1, min(RCPT, int(client.hget(keys.day, "cap")) // 40))
        n_messages = max(1, daily_demand // per_message)
        templates = {
            kind: Message(to=[f"r{j}@example.com" for j in range(per_message)], subject="s", text="t", kind=kind,
                          engagement=0.8 if kind == "transactional" else 0.4, **{"from": "sim@example.com"}).to_wire()
            for kind in ("transactional", "bulk")
        }
        for i in range(n_messages):
            kind = "transactional" if i < n_messages * tx_share else "bulk"
            mid = uuid.uuid4().hex
            queue[kind].append({**templates[kind], "id": mid, "idempotency_key": mid})
            waiting[0] += per_message
        day_end_ms[0] = int((day_start + timedelta(days=1)).timestamp() * 1000) - real_now
        for hour in range(24):
            move_clock_to(day_start + timedelta(hours=hour, minutes=1))
            if int(client.get(keys.clock_offset_ms) or 0) >= day_end_ms[0] - 2000:
                break  # rate-limit waits used up the simulated day
            budget.recover()  # the housekeeper's AIMD step, as every worker runs it
            # The real mover's claim; the simulation's "queue" is this process's deques.
            due = runtime.deferrals.claim_due(10_000)
            for _, entry in due:
                queue[entry["message"]["kind"]].appendleft(entry["message"])
                waiting[0] += len(entry["message"]["to"])
            runtime.deferrals.ack([mid for mid, _ in due])
            for kind in ("transactional", "bulk"):
                while queue[kind] and int(client.get(keys.clock_offset_ms) or 0) < day_end_ms[0] - 3000:
                    wire = queue[kind].popleft()
                    waiting[0] -= len(wire["to"])
                    outcome = runtime.sender.handle(wire, 0)
                    if outcome.outcome in ("waiting", "paused"):
                        # No budget left this hour/day (or paused): the rest of this kind waits, as it
                        # would in the queue. Take this one back from the deferred set to keep order.
                        client.zrem(keys.deferred, wire["id"])
                        client.hdel(keys.payload, wire["id"])
                        queue[kind].appendleft(wire)
                        waiting[0] += len(wire["to"])
                        break
            if transport.events.counts:
                store.record(transport.events, budget.now_ms())
                transport.events = Effects()
                level = breaker.evaluate()
                if level != "ok" and level not in action:
                    action += f"{level} at hour {hour}; "
        status = budget.status()
        windows = breaker.store.windows(budget.now_ms())[86_400]
        sent = windows["sends"]
        rows.append(DayRow(
            day=day, date=status["date"], step=status["step"], cap=status["cap"], demand=n_messages * per_message,
            sent=int(status["sent"]), deferred=int(status["deferred_today"]),
            backlog=waiting[0] + _deferred_recipients(runtime),  # recipients
            bounce_rate=round(windows["hard_bounces"] / sent, 4) if sent else 0.0,
            complaint_rate=round(windows["complaints"] / sent, 5) if sent else 0.0,
            breaker=action.strip("; ") or "ok",
        ))
    return rows


def _deferred_recipients(runtime: Runtime) -> int:
    import json

    return sum(len(json.loads(v)["message"]["to"]) for v in runtime.client.hvals(runtime.budget.keys.payload))


def rows_as_dicts(rows: list[DayRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
