"""Per-provider ramps with real workers: Microsoft's receivers defer (DeliveryDelay events), Microsoft
holds its step while Google, Yahoo and Apple advance, and no day sends past the overall cap or past
any provider's cap; a Microsoft backlog does not hold Gmail mail behind it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ses_ramp.producers import Producer
from ses_ramp.producers.queues import queue_depths
from ses_ramp.worker.budget.store import Gate
from ses_ramp.worker.guards.events import EventStore, handle_body
from ses_ramp.worker.ops.receivers import ses_event
from ses_ramp.worker.ops.status import unacked
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.noop import NoopTransport
from tests.helpers import accepted_by_moto, ramp, ramp_id, set_clock, wait_for

DOMAINS = {"google": "gmail.com", "microsoft": "outlook.com", "yahoo": "yahoo.com", "apple": "icloud.com"}
MONDAY = datetime(2027, 3, 1, tzinfo=UTC)


def _provider(address: str) -> str:
    return next(p for p, d in DOMAINS.items() if address.endswith("@" + d))


class Day:
    """The test's view of the fleet: what it enqueued, what moto accepted (by id), what waits."""

    def __init__(self, settings, runtime, moto_ses):
        self.s, self.runtime, self.moto = settings, runtime, moto_ses
        self.to: dict[str, str] = {}  # ses-ramp id -> recipient
        self.sent_before: set[str] = set()

    def enqueue(self, per_provider: dict[str, int], day: int, kind: str = "transactional") -> set[str]:
        """Interleaved, as an app's mix arrives: one message per recipient."""
        wires = []
        for i in range(max(per_provider.values())):
            for p, n in per_provider.items():
                if i < n:
                    wires.append({"to": [f"d{day}-{p}-{i}@{DOMAINS[p]}"], "subject": "s", "text": "t", "kind": kind})
        producer = Producer(self.s)
        receipts = producer.enqueue_many(wires)
        producer.close()
        for r, w in zip(receipts, wires):
            self.to[r.id] = w["to"][0]
        return {r.id for r in receipts}

    def sent(self) -> set[str]:
        return {ramp_id(m) for m in accepted_by_moto(self.moto, set(self.to))}

    def settled(self) -> bool:
        """Nothing more can go today: every message is accepted by moto or waits in the deferred set
        for a later window, none is queued, held by a worker, or due."""
        r, k = self.runtime, self.runtime.budget.keys
        if any(queue_depths(r.client, self.s.key_prefix).values()) or any(v["count"] for v in unacked(r.client, k).values()):
            return False
        if r.client.zcount(k.deferred, "-inf", r.budget.now_ms()):
            return False
        waiting = set(r.client.zrange(k.deferred, 0, -1))
        return self.sent() | waiting == set(self.to)

    def close(self, delayed_share: dict[str, float]) -> dict[str, int]:
        """The day's sends, per provider; their SES events (Send, then Delivery or a DeliveryDelay for
        `delayed_share` of a provider's recipients) through the real events handler."""
        today = self.sent() - self.sent_before
        self.sent_before |= today
        store = EventStore(self.runtime.client, self.runtime.budget.keys, self.s.day_timezone, self.runtime.budget.known)
        now_ms = self.runtime.budget.now_ms()
        per: dict[str, list[str]] = {}
        for mid in sorted(today):
            per.setdefault(_provider(self.to[mid]), []).append(mid)
        for p, mids in per.items():
            every = round(1 / delayed_share[p]) if delayed_share.get(p) else 0
            for j, mid in enumerate(mids):
                kind = "DeliveryDelay" if every and j % every == 0 else "Delivery"
                for event in (ses_event("Send", now_ms, mid, [self.to[mid]]), ses_event(kind, now_ms, mid, [self.to[mid]])):
                    handle_body(store, self.runtime.budget, json.dumps(event), now_ms)
        return {p: len(m) for p, m in per.items()}


def _day_hash(runtime) -> dict[str, str]:
    return runtime.client.hgetall(runtime.budget.keys.day)


def _runtime(s):
    return Runtime.build(s, transport=NoopTransport())


def test_microsoft_deferring_holds_its_own_step_while_the_others_advance_and_no_cap_is_overshot(
        settings, redis_client, moto_ses, workers):
    s = settings.model_copy(update={
        "warmup_start_per_day": 100, "warmup_target_per_day": 1600, "warmup_multiplier": 2.0, "warmup_days": 5,
        "provider_mix": "google=0.4,microsoft=0.3,yahoo=0.2,apple=0.1", "provider_min_sends": 10,
        "advance_min_usage_share": 0.5, "aimd_quiet_s": 3600.0,
    })
    runtime = _runtime(s)
    day = Day(s, runtime, moto_ses)
    workers(count=4, concurrency=2, s=s)
    steps = []
    for n in range(3):
        set_clock(runtime, MONDAY + timedelta(days=n, hours=9))
        runtime.budget.roll_day()
        h = _day_hash(runtime)
        steps.append({p: int(h[f"step@{p}"]) for p in DOMAINS} | {"overall": int(h["step"])})
        if n == 2:
            break  # the third morning: only the two closed days' verdicts are looked at
        cap = int(h["cap"])
        # Demand above every cap: each provider wants 1.3x its expected share of the day.
        day.enqueue({p: int(int(h[f"plan@{p}"]) * 1.3) + 1 for p in DOMAINS}, n)
        wait_for(day.settled, 120, 0.2, f"day {n} to send what its caps allow and defer the rest")
        h = _day_hash(runtime)
        sent = day.close({"microsoft": 0.2})
        # Zero overshoot, overall and per provider; the gate's charges are exactly what moto accepted.
        assert sum(sent.values()) == int(h["used"]) <= cap
        for p in DOMAINS:
            assert sent.get(p, 0) == int(h[f"used@{p}"]) <= int(h[f"cap@{p}"]), (n, p, sent, h)
        assert int(h["used"]) == cap  # the demand used the whole day

    assert steps[0] == dict.fromkeys([*DOMAINS, "overall"], 0)
    # Microsoft's receivers delayed 20% of its mail both days: it held; the others advanced twice.
    assert steps[1] == {"google": 1, "microsoft": 0, "yahoo": 1, "apple": 1, "overall": 1}
    assert steps[2] == {"google": 2, "microsoft": 0, "yahoo": 2, "apple": 2, "overall": 2}
    last = json.loads(runtime.client.lindex(runtime.budget.keys.history, 0))
    assert last["verdict"] == "advance" and last["verdict@microsoft"] == "hold" and last["verdict@google"] == "advance"
    # Microsoft's cap is still its share of step 0's 100/day; Google's its share of step 2's 400.
    h = _day_hash(runtime)
    assert int(h["plan@microsoft"]) <= 100 * 0.5 and int(h["plan@google"]) >= 400 * 0.3
    # The deferrals cut Microsoft's rate, not the fleet's.
    rate = runtime.client.hgetall(runtime.budget.keys.rate)
    assert float(rate["current_per_s@microsoft"]) < s.rate_per_s and "current_per_s" not in rate
    for p in ("google", "yahoo", "apple"):
        assert f"current_per_s@{p}" not in rate

    shown = json.loads(ramp(s, "status", "--json").stdout)["provider_ramps"]
    assert shown["microsoft"]["step"] == 0 and shown["google"]["step"] == 2
    assert shown["microsoft"]["verdict"] == "hold" and shown["google"]["verdict"] == "advance"
    assert shown["microsoft"]["rate_why"] and not shown["google"]["rate_why"]
    table = ramp(s, "status").stdout
    assert "per-provider ramps" in table and "microsoft" in table


def test_a_microsoft_backlog_waits_for_its_own_budget_while_gmail_mail_flows_past_it(settings, redis_client, moto_ses, workers):
    s = settings.model_copy(update={"warmup_start_per_day": 200, "provider_mix": "google=0.5,microsoft=0.5"})
    runtime = _runtime(s)
    day = Day(s, runtime, moto_ses)
    set_clock(runtime, MONDAY + timedelta(hours=9))
    runtime.budget.roll_day()
    ms_cap = int(_day_hash(runtime)["cap@microsoft"])
    # The Microsoft backlog is queued first, far over Microsoft's cap; Gmail mail comes after it.
    microsoft = day.enqueue({"microsoft": 150}, 0)
    google = day.enqueue({"google": 60}, 0)
    assert ms_cap < 150 and 60 + ms_cap <= 200
    workers(count=2, concurrency=2, s=s)
    wait_for(day.settled, 120, 0.2, "the day's budget to be used and the rest deferred")
    sent = day.sent()
    assert google <= sent  # every Gmail message went, none waited behind the Microsoft backlog
    assert len(sent & microsoft) == ms_cap
    deferred = runtime.client.zrange(runtime.budget.keys.deferred, 0, -1)
    assert set(deferred) == microsoft - sent
    reasons = {json.loads(v).get("reason") for v in runtime.client.hvals(runtime.budget.keys.payload)}
    assert reasons == {"budget:provider:microsoft"}
    # They wait for Microsoft's next window (tomorrow), not for a retry attempt.
    entry = json.loads(runtime.client.hget(runtime.budget.keys.payload, deferred[0]))
    assert entry.get("attempt", 0) == 0


def test_the_gate_charges_each_provider_of_a_message_and_a_refund_gives_each_back(runtime):
    set_clock(runtime, MONDAY + timedelta(hours=9))
    runtime.budget.roll_day()
    b, k = runtime.budget, runtime.budget.keys
    runtime.client.hset(k.day, mapping={"cap@google": 3, "cap@microsoft": 1})
    spec = b.providers_of(["a@gmail.com", "b@googlemail.com", "c@hotmail.co.uk"])
    assert spec == "google=2,microsoft=1"
    d = b.gate("transactional", 3, "m1", providers=spec)
    assert d.code == Gate.GO
    assert runtime.client.hmget(k.day, "used@google", "used@microsoft") == ["2", "1"]
    # Microsoft is full: a message to Gmail and Outlook waits for Microsoft, charging nobody.
    d2 = b.gate("transactional", 2, "m2", providers="google=1,microsoft=1")
    assert (d2.code, d2.detail) == (Gate.PROVIDER, "microsoft")
    assert runtime.client.hmget(k.day, "used", "used@google") == ["3", "2"]
    # SES deferred m1: both providers get their budget back, and m2 may go.
    b.settle("deferred", "transactional", 3, d.detail, "m1", providers=spec)
    assert runtime.client.hmget(k.day, "used", "used@google", "used@microsoft") == ["0", "0", "0"]
    assert b.gate("transactional", 2, "m2", providers="google=1,microsoft=1").code == Gate.GO


def test_a_provider_whose_receivers_deferred_is_paced_alone(runtime):
    set_clock(runtime, MONDAY + timedelta(hours=9))
    runtime.budget.roll_day()
    b = runtime.budget
    b.back_off("yahoo")
    cut = float(runtime.client.hget(b.keys.rate, "current_per_s@yahoo"))
    assert cut == runtime.settings.rate_per_s * runtime.settings.aimd_decrease_factor
    assert "current_per_s" not in runtime.client.hgetall(b.keys.rate)  # the fleet's rate is not cut
    # As after several cuts: one Yahoo recipient every 2 s.
    runtime.client.hset(b.keys.rate, "current_per_s@yahoo", 0.5)
    assert b.gate("transactional", 1, "y1", providers="yahoo=1").code == Gate.GO
    d = b.gate("transactional", 1, "y2", providers="yahoo=1")
    assert d.code == Gate.PROVIDER_RATE and d.detail == "yahoo" and 0 < d.wait_ms <= 2000
    # Gmail mail is not paced by Yahoo's cut (its cap is set out of the way: the suite's mix is all `other`).
    runtime.client.hset(b.keys.day, "cap@google", 50)
    assert all(b.gate("transactional", 1, f"g{i}", providers="google=1").code == Gate.GO for i in range(5))


def test_ramp_schedule_shows_each_providers_part_of_each_day_and_names_a_bad_mix(settings):
    days = json.loads(ramp(settings, "schedule", "--mix", "google=0.5,microsoft=0.3,yahoo=0.2", "--json").stdout)
    assert all(sum(d["providers"].values()) == d["cap"] for d in days)
    last = days[-1]["providers"]
    assert last["google"] > last["microsoft"] > last["yahoo"] > last["apple"] > 0  # apple: the 2% floor
    bad = ramp(settings, "schedule", "--mix", "gmail=1", check=False)
    assert bad.returncode != 0 and "gmail=1" in bad.stderr and "google, microsoft" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
