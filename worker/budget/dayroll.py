"""The once-a-day roll-over: close the previous day (advance, hold or step back), open today's budget.

Atomic without stopping anyone: the old day is read and the new one written in one optimistic
transaction (WATCH on the day and ramp hashes, MULTI/EXEC). A counter that lands on the old day while
the roll computes (a bounce from `ramp events`, a gate charge) aborts the EXEC, and the roll reads
again: nothing counted during a roll is lost. redis-py's `Lock` (a unique token per holder, released
by a script) keeps the fleet from computing the same roll many times over; correctness does not
depend on it.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

from redis.exceptions import LockError, WatchError

from ses_ramp.config import gmail_reports, provider_ramp, schedule
from ses_ramp.producers.redis_client import hash_fields, text_hash
from ses_ramp.worker.budget import cohorts, gmail_days, provider_days
from ses_ramp.worker.budget.window import account_left, day_window

HISTORY_DAYS = 400
LOCK_TTL_S = 15


def roll_day(budget: Any, wait_s: float = 10.0) -> None:
    today, start_ms, end_ms = day_window(budget.now_ms(), budget.settings.day_timezone)
    day_key = budget.keys.day
    if budget.client.hget(day_key, "date") == today.isoformat():
        return
    lock = budget.client.lock(budget.keys.lock("roll"), timeout=LOCK_TTL_S, sleep=0.02, blocking_timeout=wait_s)
    if not lock.acquire():
        if budget.client.hget(day_key, "date") == today.isoformat():
            return  # another process rolled it while we waited
        # A RedisError: the gate's caller hands the message back untouched (never a dead letter).
        raise LockError("another process holds the day roll-over lock", lock_name=budget.keys.lock("roll"))
    try:
        _roll(budget, today, start_ms, end_ms)
    finally:
        try:
            lock.release()
        except LockError:
            pass  # it expired while we rolled: the transaction, not the lock, kept the roll atomic


def _roll(budget: Any, today: date, start_ms: int, end_ms: int) -> None:
    k = budget.keys
    with budget.client.pipeline(transaction=True) as pipe:
        while True:
            try:
                # What the roll reads but does not watch is read first, so the watched window stays short:
                # counters landing on the old day abort it, and a long window would abort it again and again.
                closing = budget.client.hget(k.day, "date")
                sendday = text_hash(budget.client.hgetall(k.sendday(closing))) if closing else {}
                recent = [json.loads(h) for h in budget.client.lrange(k.history, 0, provider_ramp.SHARE_DAYS - 2)]
                gmail = text_hash(budget.client.hgetall(k.gmail))  # Postmaster Tools' reports (watched: one may land)
                pipe.watch(k.day, k.ramp, k.breaker, k.gmail)
                old = text_hash(pipe.hgetall(k.day))
                if old.get("date") == today.isoformat():
                    pipe.unwatch()
                    return
                if old.get("date") != closing:
                    pipe.unwatch()
                    continue  # another process rolled a day meanwhile: read again
                ramp = text_hash(pipe.hgetall(k.ramp))
                account = text_hash(pipe.hgetall(k.account))
                probation = pipe.hget(k.breaker, "probation")
                fields, ramp_fields, history = _next_day(budget, old, ramp, account, probation, today, start_ms, end_ms, recent, sendday,
                                                         gmail_days.pending(gmail))
                applied_ms = budget.now_ms()
                pipe.multi()
                pipe.delete(k.day)
                pipe.hset(k.day, mapping=hash_fields(fields))
                pipe.delete(k.ramp)
                pipe.hset(k.ramp, mapping=hash_fields(ramp_fields))
                if history is not None:
                    pipe.hset(k.gmail, gmail_days.APPLIED, applied_ms)  # the reports judged: never judged again
                    pipe.lpush(k.history, json.dumps(history))
                    pipe.ltrim(k.history, 0, HISTORY_DAYS - 1)
                pipe.execute()
                return
            except WatchError:
                continue  # something counted on the old day meanwhile: read it again


def _next_day(budget: Any, old: dict[str, str], ramp: dict[str, str], account: dict[str, str], probation: str | None,
              today: date, start_ms: int, end_ms: int, recent: list[dict[str, Any]], sendday: dict[str, str],
              gmail: list[gmail_reports.GmailDay] | None = None,
              ) -> tuple[dict[str, str | int], dict[str, Any], dict[str, Any] | None]:
    s = budget.settings
    state = schedule.RampState.from_redis(ramp)
    by_provider = provider_days.read_states(ramp, state) if s.provider_ramps else {}
    history: dict[str, Any] | None = None
    if old.get("date"):
        heard = cohorts.totals_of(sendday)  # what SES's events have said so far about the day's sends
        report = schedule.DayReport(
            on=date.fromisoformat(old["date"]), cap=int(old.get("cap", 0)),
            sent=int(old.get("sent", 0)), failed=int(old.get("failed", 0)),
            event_sends=heard["sends"], delivered=heard["deliveries"],
            reputation_delays=heard["reputation_delays"], other_delays=heard["delays"] - heard["reputation_delays"],
            bounces=heard["hard_bounces"], soft_bounces=heard["soft_bounces"], complaints=heard["complaints"],
            reserve_unused=max(0, int(old.get("reserve", 0)) - int(old.get("used_tx", 0))),
        )
        provider_reports = {}
        if by_provider:
            provider_reports = provider_days.reports(old, cohorts.providers_of(sendday), report.on)
            report = provider_ramp.overall_report(report, provider_reports, s.provider_min_sends)
        state, verdict = schedule.close_day(budget.cfg, state, report)
        history = {**old, "verdict": verdict, "why": schedule.why(budget.cfg, report, verdict), "step_after": state.step,
                   "events": heard}
        # Gmail's own numbers (Postmaster Tools, received since the last roll-over) judge the google ramp too.
        reported, reported_why = gmail_reports.verdict(gmail or [], gmail_reports.Thresholds(
            s.gmail_spam_hold_rate, s.gmail_spam_step_back_rate)) if gmail else (None, "")
        for p, p_report in provider_reports.items():
            by_provider[p], p_verdict = provider_ramp.close_provider_day(budget.cfg, by_provider[p], p_report, verdict,
                                                                         s.provider_min_sends, reported if p == "google" else None)
            history[f"verdict@{p}"] = p_verdict
            history[f"why@{p}"] = schedule.why(budget.cfg, p_report, p_verdict) if p_verdict == "idle" or provider_ramp.judged_alone(
                p_report, s.provider_min_sends) else f"{p_report.sent:,} sends, under {s.provider_min_sends:,}: follows the overall verdict"
            if p == "google" and reported is not None and p_verdict == reported:
                history[f"why@{p}"] = reported_why
        if gmail:
            history["gmail"] = reported_why or "Gmail's reports within limits"
    state, cooled = schedule.open_day(budget.cfg, state, today)
    if cooled:
        by_provider = {p: provider_ramp.cool_down(budget.cfg, ps) for p, ps in by_provider.items()}
    # SES spreads a pool's mail over its IPs: N cold IPs carry N times the per-IP schedule.
    per_ip_cap = schedule.cap_for(budget.cfg, state)
    schedule_cap = per_ip_cap * warming_ips(budget)
    # Probation holds until `ramp probation off`: every day it is on, the schedule's cap is cut.
    cap = probation_cap(schedule_cap, json.loads(probation), budget.settings.probation_cap_share) if probation else schedule_cap
    provider_fields: dict[str, int] = {}
    if by_provider:
        # The observed mix: the closed day and the ones before it (`recent` history entries), up to SHARE_DAYS.
        seen = provider_days.observed([old, *recent] if old.get("date") else recent)
        shares = provider_ramp.shares(s.provider_shares, seen)
        provider_fields = provider_days.day_fields(budget.cfg, by_provider, shares, cap / per_ip_cap, s.provider_headroom)
        # The day's cap is never above what the providers' caps let it send: with Microsoft held, the whole
        # day's cap is judged (usage) and shown as what can really go.
        cap = min(cap, sum(provider_fields[f"cap@{p}"] for p in by_provider))
    share = budget.settings.transactional_reserve_share
    hour_allow = max(1, math.ceil(cap / 24 * budget.settings.hourly_burst_factor))
    fields: dict[str, str | int] = {
        "date": today.isoformat(), "start_ms": start_ms, "end_ms": end_ms, "step": state.step,
        "cap": cap, "schedule_cap": schedule_cap,
        "reserve": math.floor(cap * share), "hour_allow": hour_allow, "hour_reserve": math.floor(hour_allow * share),
        "used": 0, "used_tx": 0, "used_bulk": 0, "sent": 0, "sent_tx": 0, "sent_bulk": 0, "deferred": 0, "failed": 0,
        "unconfirmed": 0, "dropped": 0,
        "hour_idx": 0, "hour_used": 0, "hour_used_tx": 0,
        "acct_left": account_left(account), "acct_used": 0, "cooled_down": int(cooled),
    }
    fields.update(provider_fields)
    ramp_fields: dict[str, Any] = {**state.to_redis(), **provider_days.state_fields(by_provider)}
    return fields, ramp_fields, history


def warming_ips(budget: Any) -> int:
    """How many IPs of the pool carry the schedule: RAMP_DEDICATED_IPS, else the pool's IPs SES does not
    report as warm yet (as the worker's preflight or `ramp setup` last read them), else 1."""
    if budget.settings.dedicated_ips:
        return int(budget.settings.dedicated_ips)
    raw = budget.client.get(budget.keys.ses_warmup)
    ips = json.loads(raw).get("ips", []) if raw else []
    return max(1, sum(1 for ip in ips if ip.get("status") != "DONE"))


def probation_cap(schedule_cap: int, snapshot: dict[str, Any], default_share: float) -> int:
    """The day's cap while probation is on: the schedule's, times the share taken when it began."""
    return max(1, int(schedule_cap * float(snapshot.get("cap_share", default_share))))
