"""The simulation's queue and clock: the app's backlog per kind and provider (recipients counted, made into
messages only when a worker would take one), and simulated time (the Lua scripts' clock offset)."""

from __future__ import annotations

import time
import uuid
from collections import deque
from datetime import datetime
from typing import Any

from ses_ramp.config.probe import ProbePolicy, Verdict
from ses_ramp.config.provider_ramp import split
from ses_ramp.producers.campaigns.content import PROBE_TAG
from ses_ramp.producers.message import Message
from ses_ramp.worker.fleet import probes
from ses_ramp.worker.send.runtime import Runtime

MAX_RECIPIENTS = 50  # SES's per-message maximum
SIM_UNSUBSCRIBE = {"List-Unsubscribe": "<https://sim.example/unsubscribe>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


class Backlog:
    """The app's queue for one kind, as the simulation sees it: messages handed back (deferred and
    due again, or refused for budget) first, then fresh recipients, made into messages on demand."""

    def __init__(self, kind: str, sender: str, domain: str = "example.com", local: str = "r", tags: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.sender = sender
        self.domain = domain  # one mailbox provider's recipients per backlog
        self.local = local  # recipients' local parts: <local><n>
        self.tags = tags or {}
        self.returned: deque[dict[str, Any]] = deque()
        self.fresh = 0  # recipients not yet taken off the queue
        self._arrived: deque[list[Any]] = deque()  # [created_at ISO, recipients] of the fresh ones, oldest first
        self._template: dict[str, Any] = {}

    def add(self, recipients: int, created_at: str) -> None:
        """`recipients` enqueued at `created_at` (simulated time: the overflow policy counts from it)."""
        if recipients > 0:
            self.fresh += recipients
            self._arrived.append([created_at, recipients])

    def put_back(self, wire: dict[str, Any]) -> None:
        self.returned.appendleft(wire)

    def recipients(self) -> int:
        return self.fresh + sum(len(w["to"]) for w in self.returned)

    def __bool__(self) -> bool:
        return bool(self.returned) or self.fresh > 0

    def take(self, per_message: int) -> dict[str, Any]:
        if self.returned:
            return self.returned.popleft()
        created_at = self._arrived[0][0]  # a message spanning two arrivals counts its wait from the older
        n = min(per_message, self.fresh)
        self.fresh -= n
        need = n
        while need:
            take = min(need, self._arrived[0][1])
            need -= take
            self._arrived[0][1] -= take
            if not self._arrived[0][1]:
                self._arrived.popleft()
        if len(self._template.get("to", ())) != n:
            self._template = Message.model_validate({
                "to": [f"{self.local}{j}@{self.domain}" for j in range(n)], "subject": "s", "text": "t", "kind": self.kind,
                **({"tags": self.tags} if self.tags else {}),
                "engagement": 0.8 if self.kind == "transactional" else 0.4, "from": self.sender,
                # Simulated bulk goes to up to 50 recipients a message (to keep 45 days fast), so it
                # carries the app's own unsubscribe headers, not per-recipient one-click tokens.
                **({"headers": SIM_UNSUBSCRIBE} if self.kind == "bulk" else {}),
            }).to_wire()
        mid = uuid.uuid4().hex
        return {**self._template, "id": mid, "idempotency_key": mid, "created_at": created_at}


class Clock:
    """Simulated time: the Lua scripts' clock offset, moved forward only."""

    RECOVER_EVERY_MS = 10_000  # the AIMD step climbs once per quiet interval (30 s): 10 s is fine enough
    # Waits stop this short of midnight, so the day rolls when the simulation moves the clock, not
    # inside a rate-limit wait; sending stops a little earlier, so a last wait still fits.
    WAIT_STOP_MS = 2000
    SEND_STOP_MS = 3000

    def __init__(self, runtime: Runtime) -> None:
        self.client, self.key, self.budget = runtime.client, runtime.budget.keys.clock_offset_ms, runtime.budget
        self._offset_ms = int(self.client.get(self.key) or 0)  # only this Clock moves it: kept here too
        self.real_now_ms = self.budget.now_ms() - self._offset_ms
        self.day_end_ms = 0  # offset at which the simulated day ends
        self._recovered_at_ms = 0

    def now_ms(self) -> int:
        """The scripts' time (Redis TIME plus the offset), read without a round trip: this host's
        clock stands in for the Redis server's, which is close enough to time events by."""
        return int(time.time() * 1000) + self._offset_ms

    def _set(self, offset_ms: int) -> None:
        self._offset_ms = offset_ms
        self.client.set(self.key, offset_ms)

    def move_to(self, when: datetime) -> None:
        self._set(max(int(when.timestamp() * 1000) - self.real_now_ms, self._offset_ms))

    def end_day_at(self, when: datetime) -> None:
        self.day_end_ms = int(when.timestamp() * 1000) - self.real_now_ms

    def day_left(self) -> bool:
        """Time left today to send another message."""
        return self._offset_ms < self.day_end_ms - self.SEND_STOP_MS

    def day_used_up(self) -> bool:
        """Rate-limit waits have carried the clock to where waits stop."""
        return self._offset_ms >= self.day_end_ms - self.WAIT_STOP_MS

    def wait(self, seconds: float) -> None:
        """A rate-limit wait passes simulated time (never past the day's end) while the
        housekeeper's AIMD recovery keeps running, as it does every second in a real worker."""
        self._set(min(self._offset_ms + int(seconds * 1000), self.day_end_ms - self.WAIT_STOP_MS))
        if self._offset_ms - self._recovered_at_ms >= self.RECOVER_EVERY_MS:
            self._recovered_at_ms = self._offset_ms
            self.budget.recover()


class SimProbe:
    """The unverified list of `--dirty-list-day` under the probe (`config/probe.py`'s policy, the real events
    path's counters in `campaign_probe:<id>`, `fleet/probes.py`'s verdict): its sample goes out within the
    day's share, its recipients' addresses start with `LOCAL` (the receiver model bounces those), and the rest
    of the list is held; released (into the bulk backlog) or parked by the verdict."""

    CAMPAIGN = "sim-legacy"
    LOCAL = "legacy"

    def __init__(self, policy: ProbePolicy, sender: str, domains: dict[str, float]) -> None:
        self.policy = policy
        self.backlogs = {d: Backlog("bulk", sender, d, self.LOCAL, {PROBE_TAG: self.CAMPAIGN}) for d in domains}
        self.shares = domains
        self.meta: dict[str, str] = {}
        self.held = 0
        self.fed_today = 0
        self.fed = dict.fromkeys(domains, 0)  # sample recipients sent per provider's domain
        self.verdict: Verdict | None = None

    def start(self, recipients: int, created_at: str) -> int:
        """The list arrives; returns how many of it are not probed (0 when probed, all of it when too small)."""
        sample = self.policy.sample_size(recipients)
        if not sample:
            return recipients
        for domain, n in split(sample, self.shares).items():
            self.backlogs[domain].add(n, created_at)
        self.meta, self.held = {"sample": str(sample)}, recipients - sample
        return 0

    def new_day(self) -> None:
        self.fed_today = 0

    def take(self, cap: int, per_message: int) -> dict[str, Any] | None:
        """The next sample message, if the day's share has room."""
        waiting = [b for b in self.backlogs.values() if b]
        room = self.policy.day_allowance(cap, self.fed_today)
        if self.verdict or not waiting or room <= 0:
            return None
        # The providers in the mix's proportions, as a random sample of the list is: next is the one furthest behind.
        backlog = min(waiting, key=lambda b: self.fed[b.domain] / self.shares[b.domain])
        wire = backlog.take(min(per_message, room))
        self.fed_today += len(wire["to"])
        self.fed[backlog.domain] += len(wire["to"])
        return wire

    def put_back(self, wire: dict[str, Any]) -> None:
        domain = wire["to"][0].rpartition("@")[2]
        self.fed_today -= len(wire["to"])
        self.fed[domain] -= len(wire["to"])
        self.backlogs[domain].put_back(wire)

    def judge(self, client: Any, keys: Any, now_ms: int) -> Verdict | None:
        """The verdict once the sample has settled (None: not yet, or already given)."""
        if self.verdict or not self.meta:
            return None
        if "probe_fed_ms" not in self.meta and not any(self.backlogs.values()):
            self.meta["probe_fed_ms"] = str(now_ms)
        self.verdict = probes.verdict_of(self.policy, self.meta, probes.counts(client, keys, self.CAMPAIGN), now_ms)
        return self.verdict
