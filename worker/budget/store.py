"""The day's budget in Redis: the gate decision, settling a send, rolling the day, status.

Policy (what the cap is) lives in `schedule.py`; this module only stores and enforces it. Every
decision is one Lua call; the only multi-step path is the once-a-day roll-over, under a lock.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import redis
from redis.exceptions import RedisError

from ses_ramp.config import Settings, schedule
from ses_ramp.config.keys import Keys
from ses_ramp.config.provider_ramp import PROVIDERS
from ses_ramp.producers.providers import Known
from ses_ramp.producers.redis_client import hash_fields, text_hash
from ses_ramp.worker.budget.claim import Claim
from ses_ramp.worker.budget.dayroll import roll_day
from ses_ramp.worker.budget.window import account_left, day_window
from ses_ramp.worker.lua import Scripts


class Gate(IntEnum):
    GO = 0
    NO_DAY = 1
    PAUSED = 2
    DUPLICATE = 3
    RATE = 4
    HOUR = 5
    DAY = 6
    ACCOUNT = 7
    PROVIDER = 8
    PROVIDER_RATE = 9
    OVERFLOW = 10  # reserved on the overflow route (RAMP_OVERFLOW_CONFIGURATION_SET)


#: What a claim reserved: the dedicated route (GO) or the overflow route.
CLAIMED = (Gate.GO, Gate.OVERFLOW)


class ClaimNotDurable(RedisError):
    """The gate reserved, but fewer replicas than RAMP_REDIS_WAIT_REPLICAS hold the claim: SES must not be
    called (a failover now could lose it and send the message twice). A RedisError, so the sender gives
    the claim back and the message is requeued, as for any Redis refusal."""


@dataclass(frozen=True)
class Decision:
    code: Gate
    wait_ms: int
    detail: str

    @property
    def wait_s(self) -> float:
        return self.wait_ms / 1000.0


class Budget:
    """Fleet-wide daily quota, pacing and rate for one key prefix."""

    def __init__(self, settings: Settings, client: redis.Redis, scripts: Scripts | None = None) -> None:
        self.settings = settings
        self.client = client
        self.keys = Keys(settings.key_prefix)
        self.scripts = scripts or Scripts.register(client)
        self.cfg = schedule.ScheduleConfig.from_settings(settings)
        self.known = Known(settings, client) if settings.provider_ramps else None
        self.idem_ttl_s = 7 * 86400
        self.two_routes = settings.overflow_configuration_set is not None
        # Part of the rate limiter's burst that bulk may not use: a transactional message arriving
        # while bulk saturates the rate finds a slot at once instead of queueing behind it.
        self.tx_headroom = math.ceil(settings.rate_burst * settings.transactional_reserve_share)

    # -- the hot path --------------------------------------------------------------------------
    def providers_of(self, addresses: Iterable[str]) -> str:
        """The gate's and settle's `providers` argument for these recipients ("google=2,microsoft=1"),
        or "" without per-provider ramps. Never waits on DNS (`Known`)."""
        if self.known is None:
            return ""
        return ",".join(f"{p}={n}" for p, n in sorted(Counter(self.known.of(addresses)).items()))

    def gate(self, kind: str, recipients: int, idempotency_key: str, token: str = "-", providers: str = "",
             overflow_at_ms: int = -1, scopes: str = "") -> Decision:
        """`token` identifies this delivery attempt: a call redis-py retries after a lost reply sees
        its own claim and gets GO (or OVERFLOW) again, never a false DUPLICATE. `providers`: `providers_of`
        the recipients, each charged against its provider's cap in the same call. `overflow_at_ms`: when
        the message may take the overflow route if the dedicated one refuses (-1: never; config/overflow.py).
        `scopes`: the message's own pause scopes ("list:news,campaign:spring"), checked with the fleet's flags."""
        k = self.keys
        keys = [k.clock_offset_ms, k.day, k.pause, k.rate, k.idem(idempotency_key)]
        args: list[Any] = [kind, recipients, self.settings.rate_per_s, self.settings.rate_burst, self.idem_ttl_s, self.tx_headroom, token,
                providers, overflow_at_ms, "1" if self.two_routes else "0", scopes]
        replicas = self.settings.redis_wait_replicas
        if not replicas:
            code, wait_ms, detail = self.scripts.gate(keys=keys, args=args)
            return Decision(Gate(int(code)), int(wait_ms), _text(detail))
        # WAIT counts the replicas that have this connection's writes, so it goes on the gate's own
        # connection: one pipeline, one more round trip (redis-py's SCRIPT EXISTS) plus the replica's lag.
        with self.client.pipeline(transaction=False) as pipe:
            self.scripts.gate(keys=keys, args=args, client=pipe)
            pipe.wait(replicas, self.settings.redis_wait_timeout_ms)
            (code, wait_ms, detail), acked = pipe.execute()
        decision = Decision(Gate(int(code)), int(wait_ms), _text(detail))
        if decision.code in CLAIMED and int(acked) < replicas:
            raise ClaimNotDurable(f"the claim reached {acked} of {replicas} Redis replicas (RAMP_REDIS_WAIT_REPLICAS) "
                                  f"within {self.settings.redis_wait_timeout_ms} ms: not sent, requeued")
        return decision

    def settle_claim(self, outcome: str, claim: Claim, ses_id: str = "", from_unconfirmed: bool = False,
                     release: tuple[list[str], list[Any]] | None = None, client: Any = None) -> int:
        """`settle` of what `claim` reserved (see there)."""
        return self.settle(outcome, claim.kind, claim.n, claim.day, claim.key, ses_id, claim.token, from_unconfirmed,
                           release, claim.providers, client)

    def settle(self, outcome: str, kind: str, recipients: int, day: str, idempotency_key: str, ses_id: str = "",
               token: str = "-", from_unconfirmed: bool = False, release: tuple[list[str], list[Any]] | None = None,
               providers: str = "", client: Any = None) -> int:
        """`outcome` is sent, or deferred/failed/waiting (refund: SES never accepted the message).
        Settles only the claim `token` made, once, so a retried call cannot count twice. `release`:
        a campaign recipient's release (`Campaigns.release_parts`), done in the same call when sent.
        `providers`: as the gate charged them, so a refund gives each provider's budget back.
        `client`: a MULTI pipeline to queue the call in (its result is then the pipeline's to read)."""
        k = self.keys
        extra_keys, extra_args = release if release and outcome == "sent" else ([], [])
        if client is not None:
            self.scripts.settle(keys=[k.clock_offset_ms, k.day, k.idem(idempotency_key), *extra_keys],
                                args=[outcome, kind, recipients, day, ses_id, self.idem_ttl_s, token,
                                      "1" if from_unconfirmed else "0", providers, *extra_args], client=client)
            return 1
        return int(self.scripts.settle(
            keys=[k.clock_offset_ms, k.day, k.idem(idempotency_key), *extra_keys],
            args=[outcome, kind, recipients, day, ses_id, self.idem_ttl_s, token, "1" if from_unconfirmed else "0", providers,
                  *extra_args],
        ))

    def today(self) -> str:
        """The date of the open budget day ("" before the first roll-over)."""
        return _text(self.client.hget(self.keys.day, "date") or "")

    # -- adaptive rate (AIMD) --------------------------------------------------------------------
    def _aimd(self, mode: str, provider: str = "") -> float:
        s = self.settings
        return float(
            self.scripts.aimd(
                keys=[self.keys.clock_offset_ms, self.keys.rate],
                args=[mode, s.rate_per_s, s.aimd_decrease_factor, s.aimd_increase_per_s, int(s.aimd_quiet_s * 1000), s.aimd_min_rate_per_s,
                      provider],
            )
        )

    def back_off(self, provider: str = "") -> float:
        """Deferrals: cut the rate (multiplicative decrease): the fleet's (SES throttled us), or with
        `provider` only that provider's (its receivers deferred). Returns the new rate/s."""
        return self._aimd("back_off", provider)

    def recover(self) -> float:
        """Called periodically: after a quiet interval, add the step back (additive increase), to the
        fleet's rate and to each provider's that was cut."""
        rate = self._aimd("recover")
        if self.known is not None:
            cut = [f.partition("@")[2] for f in map(_text, self.client.hkeys(self.keys.rate)) if f.startswith("current_per_s@")]
            for provider in cut:
                self._aimd("recover", provider)
        return rate

    # -- clock ----------------------------------------------------------------------------------------
    def now_ms(self) -> int:
        """Redis TIME plus the test offset: the same clock the scripts use."""
        return int(self.scripts.now(keys=[self.keys.clock_offset_ms]))

    # -- once a day ----------------------------------------------------------------------------------
    def roll_day(self, wait_s: float = 10.0) -> None:
        """Close the previous day (advance/hold/step back), open today's budget. See `dayroll.py`."""

        roll_day(self, wait_s)

    # -- SES account quota ----------------------------------------------------------------------------
    def store_account_quota(self, max_24h: float, sent_24h: float, max_rate_per_s: float) -> None:
        """Record GetAccount's SendQuota; the gate then never sends past Max24HourSend - SentLast24Hours."""
        k = self.keys
        now = self.now_ms()
        account: dict[str, float | int] = {"max_24h": max_24h, "sent_24h": sent_24h, "max_rate_per_s": max_rate_per_s, "fetched_ms": now}
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(k.account, mapping=hash_fields(account))
            # SentLast24Hours now includes what we sent, so the local count restarts from zero.
            pipe.hset(k.day, mapping={"acct_left": account_left(account), "acct_used": 0, "acct_epoch_ms": now})
            if max_rate_per_s and max_rate_per_s > 0:
                pipe.hset(k.rate, "ses_max_per_s", max_rate_per_s)
            else:
                pipe.hdel(k.rate, "ses_max_per_s")
            pipe.execute()

    # -- reading ------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        k = self.keys
        now_ms = self.now_ms()
        day = text_hash(self.client.hgetall(k.day))
        state = schedule.RampState.from_redis(text_hash(self.client.hgetall(k.ramp)))
        account = text_hash(self.client.hgetall(k.account))
        rate = text_hash(self.client.hgetall(k.rate))
        today, _, _ = day_window(now_ms, self.settings.day_timezone)
        current = day.get("date") == today.isoformat()
        cap = int(day.get("cap", 0)) if current else schedule.cap_for(self.cfg, state)
        used = int(day.get("used", 0)) if current else 0
        used_tx = int(day.get("used_tx", 0)) if current else 0
        reserve = int(day.get("reserve", 0)) if current else math.floor(cap * self.settings.transactional_reserve_share)
        hour_allow = int(day.get("hour_allow", 0)) if current else max(1, math.ceil(cap / 24 * self.settings.hourly_burst_factor))
        hour_used = 0
        if current and day.get("hour_idx") is not None:
            hour_idx = (now_ms - int(day["start_ms"])) // 3_600_000
            if int(day["hour_idx"]) == hour_idx:
                hour_used = int(day.get("hour_used", 0))
        acct_left = account_left(account)
        effective_cap = cap if acct_left < 0 else min(cap, used + max(0, acct_left - int(day.get("acct_used", 0))))
        rate_now = self.settings.rate_per_s
        why = "configured RAMP_RATE_PER_S"
        for field, reason in (("ses_max_per_s", "SES MaxSendRate"), ("current_per_s", rate.get("why", "adaptive"))):
            if rate.get(field) and 0 < float(rate[field]) < rate_now:
                rate_now, why = float(rate[field]), reason
        idle = schedule.idle_days(state, today)
        return {
            "date": today.isoformat(),
            "day": state.sending_days + (1 if current and int(day.get("sent", 0)) else 0) or 1,
            "sending_days": state.sending_days,
            "step": state.step,
            "steps": len(schedule.step_caps(self.cfg)),
            "days_at_step": state.days_at_step,
            "cap": cap,
            "effective_cap": effective_cap,
            "used": used,
            "sent": int(day.get("sent", 0)) if current else 0,
            "deferred_today": int(day.get("deferred", 0)) if current else 0,
            "failed_today": int(day.get("failed", 0)) if current else 0,
            "transactional_reserve": reserve,
            "transactional_reserve_left": max(0, reserve - used_tx),
            "hour_allowance": hour_allow,
            "hour_allowance_left": max(0, hour_allow - hour_used),
            "rate_per_s": rate_now,
            "rate_why": why,
            "ses_account_quota": (
                {
                    "max_24h": float(account["max_24h"]),
                    "sent_24h": float(account["sent_24h"]),
                    "max_rate_per_s": float(account["max_rate_per_s"]),
                    "left": acct_left,
                }
                if account
                else None
            ),
            "idle_days": idle,
            "cooled_down": bool(int(day.get("cooled_down", 0))) if current else idle >= self.cfg.cooldown_idle_days,
            "warning": self.cfg.low_volume_warning,
            "provider_ramps": self._provider_ramps(day if current else {}, rate, rate_now) if self.known is not None else {},
        }

    def _provider_ramps(self, day: dict[str, str], rate: dict[str, str], fleet_rate: float) -> dict[str, dict[str, Any]]:
        """Each provider's own ramp today: step, plan, cap, used, rate, and its last closed day's verdict."""
        last = self.client.lindex(self.keys.history, 0)
        closed = json.loads(last) if last else {}
        out: dict[str, dict[str, Any]] = {}
        for p in PROVIDERS:
            cut = rate.get(f"current_per_s@{p}")
            out[p] = {
                "step": int(day.get(f"step@{p}", 0)), "plan": int(day.get(f"plan@{p}", 0)),
                "cap": int(day.get(f"cap@{p}", 0)), "used": int(day.get(f"used@{p}", 0)),
                "rate_per_s": min(fleet_rate, float(cut)) if cut else fleet_rate,
                "rate_why": rate.get(f"why@{p}", "") if cut else "",
                "verdict": closed.get(f"verdict@{p}", ""), "why": closed.get(f"why@{p}", ""),
            }
        return out


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
