"""SES's own per-provider view, as a cross-check of ses-ramp's: Virtual Deliverability Manager's
metrics by ISP (`BatchGetMetricData`, `ISP` dimension), for `ramp status --vdm`.

VDM must be enabled on the account (it is paid); without it SES refuses the call, and `ramp status`
says so in one line instead of a table. VDM counts only single-recipient messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

#: The ISP names VDM reports, for ses-ramp's provider groups (`producers/providers.py`).
ISPS = {"google": "Gmail", "microsoft": "Hotmail", "yahoo": "Yahoo", "apple": "iCloud"}
METRICS = {"SEND": "sends", "DELIVERY": "deliveries", "PERMANENT_BOUNCE": "hard_bounces", "COMPLAINT": "complaints"}
_PER_CALL = 10  # BatchGetMetricData takes at most 10 queries


@dataclass
class VdmView:
    by_provider: dict[str, dict[str, int]] = field(default_factory=dict)
    problem: str = ""  # why there are no figures (VDM off, no access, SES unreachable)


def by_isp(ses: Any, start: datetime, end: datetime) -> VdmView:
    """Sends, deliveries, hard bounces and complaints per provider between `start` and `end`."""
    names = {f"{provider}_{metric.lower()}": (provider, isp, metric) for provider, isp in ISPS.items() for metric in METRICS}
    queries: list[dict[str, Any]] = [{"Id": query_id, "Namespace": "VDM", "Metric": metric, "Dimensions": {"ISP": isp},
                                      "StartDate": start, "EndDate": end} for query_id, (_, isp, metric) in names.items()]
    view = VdmView({p: dict.fromkeys(METRICS.values(), 0) for p in ISPS})
    try:
        for start_i in range(0, len(queries), _PER_CALL):
            answer = ses.batch_get_metric_data(Queries=queries[start_i : start_i + _PER_CALL])
            for error in answer.get("Errors") or []:
                view.problem = view.problem or f"SES VDM: {error.get('Code')}: {error.get('Message', '')}".strip()
            for result in answer.get("Results") or []:
                provider, _, metric = names[result["Id"]]
                view.by_provider[provider][METRICS[metric]] += int(sum(result.get("Values") or []))
    except ClientError as exc:
        return VdmView(problem=f"SES VDM: {_one_line(exc)} (is Virtual Deliverability Manager enabled?)")
    except BotoCoreError as exc:
        return VdmView(problem=f"SES VDM: {exc}")
    return view


def _one_line(exc: ClientError) -> str:
    """SES's error code and message on one line (an endpoint that answers HTML says only its HTTP status)."""
    error = exc.response.get("Error", {})
    message = " ".join(str(error.get("Message") or "").split())
    if not message or message.startswith("<"):
        message = f"HTTP {exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode', '?')}"
    return f"{error.get('Code') or 'Error'}: {message[:200]}"
