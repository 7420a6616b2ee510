"""SES events counted by the day the message was sent (its `mail.timestamp`, in RAMP_DAY_TIMEZONE), not
the day the event arrived: a bounce that arrives after midnight belongs to the cohort it came from.

One hash per send day (`sendday:<date>`), recipients per metric: sends, deliveries, delays by
`delayType` (`delay:<type>`), hard and soft bounces, complaints, rejects; and each again per mailbox
provider of the recipients (`<metric>@<provider>`, `producers/providers.py`). Kept 40 days.

Which delays speak of the IP's reputation: `IPFailure` (the receiver refused or blocklisted the IP),
`SpamDetected`, and `TransientCommunicationFailure` (the receiver's 421s, the "slow down" of a warm-up).
`MailboxFull`, `RecipientServerError` and SES's own `InternalFailure` are not the sender's reputation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ses_ramp.config.keys import Keys
from ses_ramp.producers.redis_client import text_hash

REPUTATION_DELAYS = ("IPFailure", "SpamDetected", "TransientCommunicationFailure")
KEEP_S = 40 * 86400


def send_day(mail_ms: int, zone: str) -> str:
    return datetime.fromtimestamp(mail_ms / 1000, ZoneInfo(zone)).date().isoformat()


METRICS = ("sends", "deliveries", "delays", "hard_bounces", "soft_bounces", "complaints", "rejects",
           "account_suppressed")  # SES dropped it: on the account's suppression list (never sent, not a bounce)


#: Field prefix of the overflow route's counts on a send day's hash: kept beside the dedicated IP's, never
#: read as them (the day's verdict judges the dedicated IP on its own sends).
OVERFLOW = "ov:"


def count(pipe: Any, keys: Keys, counts: dict[str, int], delay_type: str | None, mail_ms: int, zone: str,
          by_provider: dict[str, int] | None = None, overflow: bool = False, outgoing_ip: str = "") -> None:
    """Queue the increments of one event on its send day's hash (no-op without a readable timestamp).
    `by_provider`: recipients of the event per mailbox provider, counted again as `<metric>@<provider>`.
    `overflow`: the event is about mail of the overflow route (fields prefixed `ov:`). `outgoing_ip`:
    a delivery's IP, counted as `ip:<ip>` (deliveries per IP, so status shows which IPs carried the mail)."""
    if not mail_ms:
        return
    key, pre = keys.sendday(send_day(mail_ms, zone)), OVERFLOW if overflow else ""
    for metric, n in counts.items():
        pipe.hincrby(key, pre + metric, n)
        if metric == "delays" and delay_type:
            pipe.hincrby(key, f"{pre}delay:{delay_type}", n)
        for provider, k in (by_provider or {}).items():
            pipe.hincrby(key, f"{pre}{metric}@{provider}", k)
            if metric == "delays" and delay_type:
                pipe.hincrby(key, f"{pre}delay:{delay_type}@{provider}", k)
    if outgoing_ip and counts.get("deliveries"):
        pipe.hincrby(key, f"{pre}ip:{outgoing_ip}", counts["deliveries"])
    pipe.expire(key, KEEP_S)


def read(client: Any, keys: Keys, day: str) -> dict[str, int]:
    return totals_of(text_hash(client.hgetall(keys.sendday(day))))


def read_providers(client: Any, keys: Keys, day: str) -> dict[str, dict[str, int]]:
    """The same counts, per mailbox provider (those with any event that day)."""
    return providers_of(text_hash(client.hgetall(keys.sendday(day))))


def totals_of(raw: dict[str, str], overflow: bool = False) -> dict[str, int]:
    """A send day's hash (as read) -> its counts for all providers: the dedicated route's, or with
    `overflow` the overflow route's."""
    return _totals(_route(raw, overflow))


def providers_of(raw: dict[str, str], overflow: bool = False) -> dict[str, dict[str, int]]:
    """A send day's hash (as read) -> its counts per mailbox provider, for one route."""
    per: dict[str, dict[str, int]] = {}
    for field, n in _route(raw, overflow).items():
        metric, at, provider = field.partition("@")
        if at:
            per.setdefault(provider, {})[metric] = n
    return {p: _totals(counts) for p, counts in sorted(per.items())}


def ips_of(raw: dict[str, str], overflow: bool = False) -> dict[str, int]:
    """Deliveries per outgoing IP on a send day (`ses:outgoing-ip`), for one route."""
    return {field[3:]: n for field, n in _route(raw, overflow).items() if field.startswith("ip:")}


def _route(raw: dict[str, str], overflow: bool) -> dict[str, int]:
    """One route's fields of a send day's hash, without the route's prefix."""
    if overflow:
        return {k[len(OVERFLOW):]: int(v) for k, v in raw.items() if k.startswith(OVERFLOW)}
    return {k: int(v) for k, v in raw.items() if not k.startswith(OVERFLOW)}


def _totals(raw: dict[str, int]) -> dict[str, int]:
    raw = {k: v for k, v in raw.items() if "@" not in k}
    out = {m: raw.get(m, 0) for m in METRICS}
    out["reputation_delays"] = sum(raw.get(f"delay:{t}", 0) for t in REPUTATION_DELAYS)
    out.update({k: v for k, v in raw.items() if k.startswith("delay:")})
    return out
