"""One dashboard page's figures, read from the plain functions `ramp status`, `ramp forecast` and `ramp campaigns
list` render (`ops/status.py`, `producers/forecast.py`, `ops/campaigns.py`): nothing here computes a figure."""

from __future__ import annotations

import json
from typing import Any

from ses_ramp.config import schedule
from ses_ramp.producers import forecast
from ses_ramp.worker.budget import cohorts
from ses_ramp.worker.ops import campaigns, status

HISTORY_DAYS = 60
FORECAST_DAYS = 14
AUDIT_SHOWN = 20


def page(runtime: Any, day: str | None = None) -> dict[str, Any]:
    settings, client, keys = runtime.settings, runtime.client, runtime.budget.keys
    st = status.collect(runtime)
    cfg = schedule.ScheduleConfig.from_settings(settings)
    planned = {p.day: p.cap for p in schedule.plan(cfg)}
    history = [json.loads(h) for h in client.lrange(keys.history, 0, HISTORY_DAYS - 1)]
    sending_day = int(st["sending_days"])
    for i, h in enumerate(history):  # newest first: the newest closed day is sending day `sending_days`
        h["sending_day"] = sending_day - i
        h["planned"] = planned.get(sending_day - i, cfg.target_per_day)
    state, today, waiting = forecast.read_inputs(client, settings)
    ahead = forecast.days(cfg, state, today, settings.transactional_reserve_share, waiting)[:FORECAST_DAYS]
    chosen = None
    if day:
        chosen = {"date": day, "events": cohorts.read(client, keys, day), "providers": cohorts.read_providers(client, keys, day),
                  "closed": next((h for h in history if h.get("date") == day), None)}
    return {
        "status": st, "history": history, "forecast": [d.__dict__ for d in ahead], "campaigns": campaigns.listing(runtime),
        "audit": [json.loads(a) for a in client.lrange(keys.audit, 0, AUDIT_SHOWN - 1)], "day": chosen,
        "planned_today": planned.get(int(st["day"]), cfg.target_per_day),
    }
