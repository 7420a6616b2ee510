"""`ramp simulate`: the real schedule, gate, sender, deferral store, events handler and breaker, run
against a receiver model in accelerated time (the scripts' clock offset is moved; nothing sleeps).

As through SES in production, the receivers never answer the worker: SES accepts each message and
their deferrals, bounces and complaints come back as SES events some simulated time later
(`receivers.py`), counted on the day the message was sent; each day's verdict is taken from them.

Each simulated message carries up to 50 recipients (SES's maximum), about a fortieth of the day's
cap, so 45 days at 50,000/day stay fast while small early caps are still used fully; every charge,
cap and rate is counted in recipients, as in production.

Speed: the backlog is kept as a count of recipients per kind and turned into a message only when a
worker would take one off the queue, so a demand far above the cap costs nothing per waiting
recipient.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ses_ramp.config import Settings
from ses_ramp.config.gmail_reports import GmailDay
from ses_ramp.config.probe import RELEASED, ProbePolicy
from ses_ramp.config.provider_ramp import PROVIDERS, split
from ses_ramp.producers.providers import Known
from ses_ramp.worker.budget import cohorts, gmail_days
from ses_ramp.worker.guards import pause
from ses_ramp.worker.guards.breaker import Breaker
from ses_ramp.worker.guards.events import EventStore, handle_body
from ses_ramp.worker.ops.receivers import PROFILE_TOLERANCE, SIM_DOMAINS, ReceiverModel, SimulatedSes, sim_provider_of
from ses_ramp.worker.ops.sim_parts import MAX_RECIPIENTS, Backlog, Clock, SimProbe
from ses_ramp.worker.send.runtime import Runtime

__all__ = ["PROFILE_TOLERANCE", "ReceiverModel", "run_simulation", "simulate", "target_reached_on"]

KINDS = ("transactional", "bulk")
#: Gmail publishes a day's Postmaster figures about two days later, and only above a volume: "only domains that
#: send mail to at least 50 users per day receive statistics" (developers.google.com/workspace/gmail/postmaster).
POSTMASTER_LAG_DAYS = 2
POSTMASTER_MIN_DELIVERED = 50
EVENTS_POLL_MS = 20_000  # how often, in simulated time, events are handled while mail goes out


@dataclass
class DayRow:
    day: int
    date: str
    step: int
    cap: int
    demand: int
    sent: int
    delayed: int  # recipients of the day's sends delayed for the IP's reputation (DeliveryDelay events)
    backlog: int
    bounce_rate: float  # of the day's sends, from their events
    complaint_rate: float
    verdict: str  # taken at the next roll-over, from the day's events
    breaker: str
    forecast: int | None = None  # recipients `ramp forecast`'s model said would go this day (with --forecast-day)
    steps: dict[str, int] | None = None  # each mailbox provider's own step (with per-provider ramps)
    sent_by: dict[str, int] | None = None  # recipients charged per provider
    overflow: int = 0  # recipients sent through the overflow route (RAMP_OVERFLOW_CONFIGURATION_SET)


def simulate(settings: Settings, runtime: Runtime, days: int, daily_demand: int, model: ReceiverModel,
             tx_share: float = 0.2, demand_days: int | None = None, forecast_day: int | None = None) -> list[DayRow]:
    """Run `days` days of a `daily_demand` (recipients/day, `tx_share` of them transactional; only on
    the first `demand_days` days if given) through the real sending path; one row per day. With
    `forecast_day`, the forecast (`producers/forecast.py`) made that morning is kept beside each day."""
    client, keys, budget = runtime.client, runtime.budget.keys, runtime.budget
    clock = Clock(runtime)
    transport = SimulatedSes(model, clock.now_ms, settings.configuration_set)
    runtime.sender.transport = transport
    breaker = Breaker(settings, runtime)
    store = EventStore(client, keys, settings.day_timezone, budget.known or Known(settings, client),
                       settings.overflow_configuration_set)
    runtime.sender.sleep = clock.wait  # rate-limit waits pass simulated time, not real time
    sender = settings.from_address or "sim@example.com"
    # The recipients follow the declared mix (`--mix`), one backlog per kind and mailbox provider.
    mix = settings.provider_shares if settings.provider_ramps else {"other": 1.0}
    model.mix = mix
    providers = [p for p in PROVIDERS if mix.get(p, 0) > 0]
    queues = {(kind, p): Backlog(kind, sender, SIM_DOMAINS[p]) for kind in KINDS for p in providers}
    start = datetime(2027, 1, 4, tzinfo=UTC)
    # `--dirty-list-day` with the probe on: the unverified list is a campaign of new recipients (`SimProbe`).
    probe = SimProbe(ProbePolicy.from_settings(settings), sender, {SIM_DOMAINS[p]: mix[p] for p in providers}) \
        if model.dirty_day is not None and settings.probe_new_recipients > 0 else None
    actions: dict[int, str] = {}
    fed_at_ms = [0]

    def feed(every_ms: int = 0) -> None:
        """SES's events whose time has come, through the real events handler, then the breaker
        (at most once per `every_ms` of simulated time: `ramp events` polls, it does not stream)."""
        now_ms = clock.now_ms()
        if now_ms - fed_at_ms[0] < every_ms:
            return
        fed_at_ms[0] = now_ms
        events = transport.due(now_ms)
        for event in events:
            handle_body(store, budget, json.dumps({"Type": "Notification", "Message": json.dumps(event)}), now_ms)
        if events:
            level = breaker.evaluate()
            if level != "ok" and level not in actions.get(day, ""):
                actions[day] = actions.get(day, "") + f"{level} at hour {hour}; "

    rows: list[DayRow] = []
    planned: dict[str, int] = {}
    day = hour = 0
    for day in range(1, days + 2):  # one more morning: the last day's verdict is taken at its roll-over
        day_start = start + timedelta(days=day - 1)
        clock.move_to(day_start + timedelta(seconds=1))
        clock.end_day_at(day_start + timedelta(days=1))
        feed()  # what arrived overnight counts before the day closes
        model.new_day(day)
        _postmaster_report(client, keys, model, day, start, sender, budget.now_ms())
        if pause.flags(client, keys).keys() & {"all", "bulk"}:
            # The simulated operator: cleans the list overnight and resumes the next morning.
            pause.resume(client, keys, "all")
            client.hset(keys.breaker, "resumed_at_ms", budget.now_ms())
            actions[day] = "operator resumed; "
        budget.roll_day()
        if day > days:
            break
        per_message = max(1, min(MAX_RECIPIENTS, int(client.hget(keys.day, "cap") or 0) // 40))
        demand = daily_demand if demand_days is None or day <= demand_days else 0
        tx = round(demand * tx_share)
        # With overflow the day's demand arrives through the day, a 24th each hour, as a business's mail does:
        # what has waited its RAMP_OVERFLOW_AFTER_S leaves by overflow while fresh mail keeps the dedicated IP
        # busy all day. Without overflow it arrives at midnight, as the README's earlier rows were run: the
        # backlog is then always larger than the cap, so when it arrives changes nothing the IP sends.
        spread = {str(h): 1.0 for h in range(24)} if runtime.budget.two_routes else {"0": 1.0}
        bulk = demand - tx
        if probe is not None:
            probe.new_day()
            if day == model.dirty_day and probe.start(bulk, (day_start + timedelta(seconds=1)).isoformat()) == 0:
                bulk, model.dirty_local = 0, SimProbe.LOCAL  # the day's bulk is the list: sampled, the rest held
        arrivals = {kind: {int(h): split(by_hour, {p: mix[p] for p in providers}) for h, by_hour in split(n, spread).items()}
                    for kind, n in (("transactional", tx), ("bulk", bulk))}
        capped: set[str] = set()  # providers whose cap today's mail has used
        taken = dict.fromkeys(queues, 0)  # recipients taken off each backlog today
        for hour in range(24):
            arrived = (day_start + timedelta(hours=hour, seconds=1)).isoformat()
            for kind, hours in arrivals.items():
                for p, share in hours.get(hour, {}).items():
                    queues[(kind, p)].add(share, arrived)
            if hour == 0 and day == forecast_day:
                planned = _forecast(settings, runtime, queues)  # this morning's, with the night's mail queued
            clock.move_to(day_start + timedelta(hours=hour, minutes=1))
            feed()
            if clock.day_used_up():
                break  # rate-limit waits used up the simulated day
            budget.recover()  # the housekeeper's AIMD step, as every worker runs it
            # The real mover's claim and ack; the simulation's Celery queue is `queues`.
            due = runtime.deferrals.claim_due(10_000)
            for _, entry in reversed(due):
                message = entry["message"]
                queues[(message["kind"], sim_provider_of(message["to"][0]))].put_back(message)
            runtime.deferrals.ack([mid for mid, _ in due])
            # Mail that is going by the overflow route is taken 50 recipients a message (the dedicated IP's
            # small early caps need small messages; the shared pool does not); each hour starts small again.
            if probe is not None:
                _send_probe(probe, runtime, int(client.hget(keys.day, "cap") or 0), per_message, clock, feed)
                verdict = probe.judge(client, keys, clock.now_ms())
                if verdict is not None:
                    actions[day] = actions.get(day, "") + f"{verdict.reason}; "
                    if verdict.state == RELEASED:  # a list that passed joins the bulk backlog
                        for p, n in split(probe.held, {p: mix[p] for p in providers}).items():
                            queues[("bulk", p)].add(n, clock_iso(clock))
            by_overflow: set[tuple[str, str]] = set()
            for kind in KINDS:  # transactional first, as the queue priorities order them
                # The providers' mail interleaved in the mix's proportions, as it arrives in one queue:
                # next is the provider furthest behind its share of what this kind took today.
                active = [p for p in providers if queues[(kind, p)] and p not in capped]
                while active and clock.day_left():
                    p = min(active, key=lambda p: taken[(kind, p)] / mix[p])
                    backlog = queues[(kind, p)]
                    wire = backlog.take(MAX_RECIPIENTS if (kind, p) in by_overflow else per_message)
                    taken[(kind, p)] += len(wire["to"])
                    outcome = runtime.sender.handle(wire, 0)
                    if outcome.route and outcome.route != settings.configuration_set:
                        by_overflow.add((kind, p))
                    feed(every_ms=EVENTS_POLL_MS)
                    if outcome.outcome in ("waiting", "paused"):
                        # No budget left this hour/day for it (or paused): the rest of this provider's
                        # mail of this kind waits. Take this one back from the deferred set to keep its place.
                        client.zrem(keys.deferred, wire["id"])
                        client.hdel(keys.payload, wire["id"])
                        backlog.put_back(wire)
                        taken[(kind, p)] -= len(wire["to"])
                        active.remove(p)
                        if outcome.detail == "provider" and not runtime.budget.two_routes:
                            capped.add(p)  # its cap is used: its mail waits for tomorrow, as a worker defers it
                            # to the day's end (with overflow it is tried again, to go by overflow once it may)
                    elif not backlog:
                        active.remove(p)
        status = budget.status()
        ramps = status.get("provider_ramps") or {}
        rows.append(DayRow(
            day=day, date=status["date"], step=status["step"], cap=status["cap"], demand=demand,
            sent=int(status["sent"]), delayed=0,
            backlog=sum(q.recipients() for q in queues.values()) + _deferred_recipients(runtime),
            bounce_rate=0.0, complaint_rate=0.0, verdict="", breaker="",
            forecast=planned.get(status["date"], 0) if forecast_day and day >= forecast_day else None,
            steps={p: ramps[p]["step"] for p in providers} if ramps else None,
            sent_by={p: ramps[p]["used"] for p in providers} if ramps else None,
            overflow=int(client.hget(keys.day, "ov_sent") or 0),
        ))
    verdicts = {h["date"]: h["verdict"] for h in map(json.loads, client.lrange(keys.history, 0, -1))}
    for row in rows:
        heard = cohorts.read(client, keys, row.date)
        sends = heard["sends"]
        row.delayed = heard["reputation_delays"]
        row.bounce_rate = round(heard["hard_bounces"] / sends, 4) if sends else 0.0
        row.complaint_rate = round(heard["complaints"] / sends, 5) if sends else 0.0
        row.verdict = verdicts.get(row.date, "")
        row.breaker = actions.get(row.day, "").strip("; ") or "ok"
    return rows


def _send_probe(probe: SimProbe, runtime: Runtime, cap: int, per_message: int, clock: Clock, feed: Any) -> None:
    """The probe's sample messages this hour, within the day's share, through the real sender."""
    while clock.day_left() and (wire := probe.take(cap, per_message)) is not None:
        outcome = runtime.sender.handle(wire, 0)
        feed(every_ms=EVENTS_POLL_MS)
        if outcome.outcome in ("waiting", "paused"):  # no budget now: it waits for the next hour, in its place
            runtime.client.zrem(runtime.budget.keys.deferred, wire["id"])
            runtime.client.hdel(runtime.budget.keys.payload, wire["id"])
            probe.put_back(wire)
            return


def clock_iso(clock: Clock) -> str:
    return datetime.fromtimestamp(clock.now_ms() / 1000, UTC).isoformat()


def _postmaster_report(client: Any, keys: Any, model: ReceiverModel, day: int, start: datetime, sender: str, now_ms: int) -> None:
    """This morning's Postmaster Tools report, as Gmail publishes it: the spam rate of the mail delivered two
    days ago, and only when that day's Gmail volume passed Gmail's threshold (POSTMASTER_MIN_DELIVERED)."""
    delivered, reported = model.gmail.get(day - POSTMASTER_LAG_DAYS, [0, 0])
    if delivered >= POSTMASTER_MIN_DELIVERED:
        on = (start + timedelta(days=day - POSTMASTER_LAG_DAYS - 1)).date()
        gmail_days.store(client, keys, GmailDay(sender.rpartition("@")[2], on, spam_rate=reported / delivered), now_ms)


def _forecast(settings: Settings, runtime: Runtime, queues: dict[tuple[str, str], Backlog]) -> dict[str, int]:
    """What `ramp forecast` would say this morning about the simulated queues: recipients per date."""
    from ses_ramp.config.schedule import ScheduleConfig
    from ses_ramp.producers import forecast

    state, today, _ = forecast.read_inputs(runtime.client, settings)
    waiting_of = {kind: sum(q.recipients() for (k, _), q in queues.items() if k == kind) for kind in KINDS}
    waiting = forecast.Waiting(transactional=[(0, waiting_of["transactional"])], bulk=[(5, waiting_of["bulk"])])
    plan = forecast.days(ScheduleConfig.from_settings(settings), state, today, settings.transactional_reserve_share, waiting)
    return {d.on.isoformat(): d.transactional + d.bulk for d in plan}


def _deferred_recipients(runtime: Runtime) -> int:
    return sum(len(json.loads(v)["message"]["to"]) for v in runtime.client.hvals(runtime.budget.keys.payload))


def rows_as_dicts(rows: list[DayRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def run_simulation(settings: Settings, days: int, daily_demand: int, model: ReceiverModel,
                   demand_days: int | None = None, forecast_day: int | None = None) -> list[dict[str, Any]]:
    """`ramp simulate`: on a throw-away embedded redis-server (or `RAMP_REDIS_URL` under a throw-away
    key prefix), never touching real state; everything it wrote is deleted at the end."""
    import tempfile

    import structlog

    from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port
    from ses_ramp.worker.send.transports.noop import NoopTransport

    server = None
    if settings.redis_url is None:
        server = EmbeddedRedis(free_port(), tempfile.mkdtemp(prefix="ses-ramp-sim-"), persist=False).start()
    url = server.url if server else settings.redis_url
    sim = settings.model_copy(update={
        "redis_url": url, "key_prefix": f"sim-{uuid.uuid4().hex[:8]}", "rate_wait_inline_max_s": 86_400.0,
        "from_address": settings.from_address or "sim@example.com", "log_level": "ERROR",
    })
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    runtime = Runtime.build(sim, transport=NoopTransport(), prompt=True)
    try:
        runtime.ping()  # a Redis that is down is one clear error before anything starts
    except Exception:
        if server:
            server.stop()
        raise
    try:
        return rows_as_dicts(simulate(sim, runtime, days, daily_demand, model, demand_days=demand_days, forecast_day=forecast_day))
    finally:
        if server:
            server.stop()  # a throw-away server: nothing to delete
        else:
            _delete_prefix(runtime.client, sim.key_prefix)


def _delete_prefix(client: Any, prefix: str, batch: int = 1000) -> None:
    """Every key under `prefix`, unlinked `batch` keys per round trip (a 45-day run leaves ~100,000)."""
    chunk: list[Any] = []
    for key in client.scan_iter(f"{prefix}:*", count=5000):
        chunk.append(key)
        if len(chunk) >= batch:
            client.unlink(*chunk)
            chunk = []
    if chunk:
        client.unlink(*chunk)


def target_reached_on(rows: list[dict[str, Any]], target_per_day: int) -> int | None:
    """The first day that sent the ramp's target, if any."""
    return next((r["day"] for r in rows if r["sent"] >= target_per_day), None)

