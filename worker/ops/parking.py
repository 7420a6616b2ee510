"""Parked mail: `ramp flush` moves a kind's queued and deferred messages aside, `ramp restore` puts them back."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ses_ramp.producers import ProducerError
from ses_ramp.producers.campaigns.recipients import chunk_wires
from ses_ramp.producers.wire import CAMPAIGN_CHUNK_TASK, PRIORITY_STEPS, is_campaign

KINDS = ("transactional", "bulk")


def flush(runtime, kind: str) -> dict[str, int]:
    """Move `kind`'s queued and deferred messages to `parked:<kind>`, each move atomic (LMOVE for the
    queue lists, one Lua call for the deferred set), so a crash mid-flush leaves every message in
    exactly one place. Returns counts."""
    client, keys = runtime.client, runtime.budget.keys
    parked = keys.parked(kind)
    moved_queue = 0
    # Highest priority first, and within a list kombu pops from the right: RIGHT->RIGHT keeps order.
    for name in keys.queue_lists(kind, PRIORITY_STEPS):
        while client.lmove(name, parked, "RIGHT", "RIGHT") is not None:
            moved_queue += 1
    s = runtime.budget.scripts
    moved_deferred = int(s.park_deferred(keys=[keys.clock_offset_ms, keys.deferred, keys.payload, parked], args=[kind]))
    return {"queued": moved_queue, "deferred": moved_deferred, "parked_total": client.llen(parked)}


def _wires_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages inside a parked entry: a deferred entry's, or a raw kombu message's from a queue
    (its body compressed or not; a campaign chunk holds one message per recipient)."""
    if "deferred" in entry:
        return [entry["deferred"]["message"]]
    body = entry["body"]
    if entry.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    headers = entry.get("headers") or {}
    if headers.get("compression"):
        from kombu.compression import decompress

        body = decompress(body, headers["compression"])
    args, _kwargs, _embed = json.loads(body)
    return chunk_wires(args[0]) if headers.get("task") == CAMPAIGN_CHUNK_TASK else [args[0]]


def is_expired(wire: dict[str, Any]) -> bool:
    exp = wire.get("expires_at")
    if not exp:
        return False
    return datetime.fromisoformat(exp.replace("Z", "+00:00")) <= datetime.now(UTC)


def delete_parked(runtime, kind: str) -> int:
    """Drop every parked message of `kind` (the operator confirmed). Returns how many."""
    key = runtime.budget.keys.parked(kind)
    with runtime.client.pipeline(transaction=True) as pipe:
        pipe.llen(key)
        pipe.delete(key)
        n, _ = pipe.execute()
    return int(n)


@dataclass
class RestoreReport:
    restored: int = 0
    expired: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def restore(runtime, producer, kinds: tuple[str, ...] = KINDS) -> RestoreReport:
    """Put parked messages back on their queue, oldest first. An expired one is dead-lettered and
    reported (never sent late); one the producer refuses now (suppressed since) is dead-lettered
    with the reason. Each entry leaves the parked list only after it is somewhere else."""
    report = RestoreReport()
    client = runtime.client
    for kind in kinds:
        key = runtime.budget.keys.parked(kind)
        while (raw := client.lindex(key, 0)) is not None:
            wires = _wires_of(json.loads(raw))
            for wire in wires:
                _restore_one(runtime, producer, wire, report)
            # Only now: a crash before this re-enqueues them once more, which idempotency absorbs.
            client.lpop(key)
            for wire in wires:
                if is_campaign(wire):
                    runtime.sender.campaigns.release(wire)
    return report


def _restore_one(runtime, producer, parked: dict[str, Any], report: RestoreReport) -> None:
    deferrals, now_ms = runtime.deferrals, runtime.budget.now_ms
    wire: dict[str, Any] | None = parked
    unrenderable = ""
    if is_campaign(parked):
        wire, unrenderable = _whole(runtime, parked)
    if wire is None:
        return  # a leftover copy of a campaign message already handled
    if unrenderable:
        deferrals.dead_letter(wire, 0, f"refused on restore: {unrenderable}", now_ms())
        report.refused.append(wire["id"])
    elif is_expired(wire):
        deferrals.dead_letter(wire, 0, "expired while parked", now_ms())
        report.expired.append(wire["id"])
    else:
        try:
            producer.enqueue(wire)
            report.restored += 1
        except ProducerError as exc:
            deferrals.dead_letter(wire, 0, f"refused on restore: {exc}", now_ms())
            report.refused.append(wire["id"])


def _whole(runtime, wire: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """A parked campaign recipient comes back as its whole rendered message (and is released from
    the content once restored): (message, ""); (None, "") for a leftover copy of one already
    handled; (wire, why) when it cannot be rendered."""
    from ses_ramp.producers.errors import InvalidMessage
    from ses_ramp.worker.send.campaign import ContentGone, ContentMissing

    try:
        return runtime.sender.campaigns.expand(wire).to_wire(), ""
    except ContentGone:
        return None, ""
    except ContentMissing as exc:
        return wire, f"the content of campaign {exc} is gone"
    except InvalidMessage as exc:
        return wire, f"cannot render: {exc}"
