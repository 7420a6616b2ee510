"""SES's own warm-up, read and decided: the account's automatic warm-up, the pool's scaling mode, and
each of the pool's IPs with its warm-up status and percentage.

Why it matters: with `DedicatedIpAutoWarmupEnabled` on, SES limits a standard pool's new IPs by its
own plan on top of ses-ramp's, and sends the rest of their share over other IPs (shared ones) while it
warms them: two ramps stack, and ses-ramp's verdicts judge mail some of which a warming IP never
carried. A MANAGED pool warms and scales itself: ses-ramp's ramp would mean nothing, so it is refused.
The operator decides about the automatic warm-up (`ramp setup --ses-auto-warmup off`); the README's
"SES's own warm-up" explains the trade-off.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ses_ramp.config.keys import Keys

_NOT_IMPLEMENTED = {"NotImplemented", "NotImplementedException", "404"}


class ManagedPoolRefused(Exception):
    """The dedicated pool is MANAGED: ses-ramp will not ramp it."""


@dataclass(frozen=True)
class IpWarmup:
    ip: str
    status: str  # IN_PROGRESS | DONE | NOT_APPLICABLE
    percentage: int | None


@dataclass
class SesWarmup:
    pool: str
    auto_warmup: bool | None = None  # None: SES did not say (an emulator, or no permission)
    scaling_mode: str | None = None  # STANDARD | MANAGED; None: the pool does not exist yet
    ips: list[IpWarmup] = field(default_factory=list)

    @property
    def warming_ips(self) -> int:
        """IPs SES still warms (or has not judged): each carries its own per-IP schedule."""
        return sum(1 for i in self.ips if i.status != "DONE")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def read(ses: Any, pool: str) -> SesWarmup:
    """GetAccount, GetDedicatedIpPool and GetDedicatedIps for `pool`, as SES answers them."""
    found = SesWarmup(pool)
    try:
        found.auto_warmup = bool(ses.get_account().get("DedicatedIpAutoWarmupEnabled"))
    except ClientError as exc:
        if _code(exc) not in _NOT_IMPLEMENTED:
            raise
    try:
        found.scaling_mode = ses.get_dedicated_ip_pool(PoolName=pool)["DedicatedIpPool"].get("ScalingMode")
    except ClientError as exc:
        if _code(exc) not in _NOT_IMPLEMENTED | {"NotFoundException"}:
            raise
        return found
    try:
        token: str | None = None
        while True:  # botocore has no paginator for GetDedicatedIps: follow NextToken by hand
            page = ses.get_dedicated_ips(PoolName=pool, **({"NextToken": token} if token else {}))
            found.ips += [IpWarmup(i["Ip"], str(i.get("WarmupStatus", "")), i.get("WarmupPercentage"))
                          for i in page.get("DedicatedIps", [])]
            token = page.get("NextToken")
            if not token:
                break
    except ClientError as exc:
        if _code(exc) not in _NOT_IMPLEMENTED | {"NotFoundException"}:
            raise
    return found


def findings(w: SesWarmup) -> list[tuple[str, str]]:
    """(ok | warn | refuse, one line) for each fact an operator must see."""
    lines: list[tuple[str, str]] = []
    if w.scaling_mode == "MANAGED":
        lines.append(("refuse", f"dedicated IP pool {w.pool!r} is MANAGED: SES warms and scales it itself, so ses-ramp's "
                                "ramp would mean nothing; use a STANDARD pool (RAMP_DEDICATED_IP_POOL)"))
    elif w.scaling_mode:
        lines.append(("ok", f"dedicated IP pool {w.pool!r} is {w.scaling_mode}"))
    if w.auto_warmup:
        lines.append(("warn", "SES's automatic warm-up is on: two ramps would stack (SES limits the IPs by its own plan "
                              "on top of ses-ramp's); turn it off with `ramp setup --ses-auto-warmup off`"))
    elif w.auto_warmup is False:
        lines.append(("ok", "SES's automatic warm-up is off: ses-ramp's ramp alone paces the dedicated IPs"))
    for i in w.ips:
        pct = "" if i.percentage is None else f", {i.percentage}%"
        lines.append(("ok", f"IP {i.ip}: SES warm-up {i.status or 'unknown'}{pct}"))
    return lines


def refuse_managed(w: SesWarmup) -> None:
    for level, line in findings(w):
        if level == "refuse":
            raise ManagedPoolRefused(line)


def set_auto_warmup(ses: Any, enabled: bool) -> None:
    ses.put_account_dedicated_ip_warmup_attributes(AutoWarmupEnabled=enabled)


def store(client: Any, keys: Keys, w: SesWarmup, now_ms: int) -> None:
    """Kept for `ramp status` (SES's percentage per IP beside ses-ramp's step) and the cap's IP count."""
    client.set(keys.ses_warmup, json.dumps({**asdict(w), "read_ms": now_ms}))


def load(client: Any, keys: Keys) -> dict[str, Any] | None:
    raw = client.get(keys.ses_warmup)
    return json.loads(raw) if raw else None
