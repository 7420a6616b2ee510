"""The Postmaster Tools reader, a fleet duty: once a day it reads Gmail's figures for the sending domains
(the last `LOOK_BACK_DAYS` days: reports arrive one to two days late) and stores each report with data by
the day it describes (`budget/gmail_days.py`); the next roll-over judges them (`config/gmail_reports.py`).

A Feedback-ID identifier Gmail flags as spammy pauses that campaign's or that list's mail alone
(`campaign:<id>`, `list:<id>`), never the whole ramp; only a person resumes it (`ramp resume list:<id>`).
An API failure (403, 429, 5xx, a timeout) changes nothing but the status line, and the read is tried
again after `RETRY_S`: the ramp stays as it was and nothing is lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog

from ses_ramp.config import Settings
from ses_ramp.config.gmail_reports import GmailDay
from ses_ramp.producers.feedback import NO_CAMPAIGN, NO_LIST
from ses_ramp.worker.budget import gmail_days
from ses_ramp.worker.budget.window import day_window
from ses_ramp.worker.guards import pause
from ses_ramp.worker.guards.postmaster import Postmaster, PostmasterUnavailable

log = structlog.get_logger(logger_name="ses_ramp.postmaster")

LOOK_BACK_DAYS = 3
RETRY_S = 3600
KEEP_DAYS = 40  # reports older than this are dropped (status shows the last week)
READ_ON = "read_on"


class PostmasterReader:
    def __init__(self, settings: Settings, runtime: Any, api: Callable[[], Postmaster] | None = None) -> None:
        self.settings, self.runtime = settings, runtime
        credentials = settings.postmaster_credentials
        self.api = api or (lambda: Postmaster.from_credentials(credentials or ""))
        self._failed_at_ms = -RETRY_S * 1000

    def run_once(self, force: bool = False) -> int:
        """Read today's reports unless done already (or `force`); returns how many reports were new."""
        client, keys, now_ms = self.runtime.client, self.runtime.budget.keys, self.runtime.budget.now_ms()
        today = day_window(now_ms, self.settings.day_timezone)[0]
        if not force and (client.hget(keys.gmail, READ_ON) == today.isoformat() or now_ms - self._failed_at_ms < RETRY_S * 1000):
            return 0  # one HGET per housekeeping tick until tomorrow
        domains = self.settings.postmaster_domain_list
        try:
            api = self.api()
            fresh = [r for d in domains for back in range(1, LOOK_BACK_DAYS + 1)
                     if (r := api.day(d, today - timedelta(days=back))).has_data]
        except PostmasterUnavailable as exc:
            self._failed_at_ms = now_ms
            gmail_days.set_status(client, keys, False, str(exc), now_ms)
            log.warning("postmaster_unavailable", error=str(exc))
            return 0
        new = [r for r in fresh if gmail_days.store(client, keys, r, now_ms)]
        for report in new:
            self._pause_spammy(report, now_ms)
        line = (f"read {', '.join(domains)}: {len(fresh)} day(s) with data in the last {LOOK_BACK_DAYS}, {len(new)} new"
                if fresh else f"read {', '.join(domains)}: no data yet (Gmail reports only above its volume threshold)")
        gmail_days.forget_before(client, keys, today - timedelta(days=KEEP_DAYS))
        gmail_days.set_status(client, keys, True, line, now_ms)
        client.hset(keys.gmail, READ_ON, today.isoformat())
        return len(new)

    def _pause_spammy(self, report: GmailDay, now_ms: int) -> None:
        """A flagged campaign or list is paused alone; the kind and SenderId fields are only reported."""
        client, keys = self.runtime.client, self.runtime.budget.keys
        skip = {NO_CAMPAIGN, NO_LIST, "transactional", "bulk", self.settings.feedback_sender_id}
        for flagged in report.spammy_ids:
            if flagged in skip or not pause.SCOPED.match(f"list:{flagged}"):
                continue
            target = f"campaign:{flagged}" if client.exists(keys.campaign(flagged)) else f"list:{flagged}"
            why = f"Gmail Postmaster Tools flagged Feedback-ID {flagged} as spammy on {report.on} ({report.domain})"
            if pause.pause(client, keys, target, "postmaster", why, now_ms):
                log.warning("postmaster_paused", target=target, reason=why)
