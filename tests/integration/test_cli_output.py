"""The CLI read at 80 columns, through the real `ramp` binary: values commands take are never cut,
status reads as text, empty lists say so, one wording for confirmations, no stray help labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ses_ramp.producers import Producer
from tests.helpers import settings_env

RAMP = str(Path(sys.executable).parent / "ramp")


def ramp80(settings, *args: str, fits: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")} | settings_env(settings) | {"COLUMNS": "80"}
    done = subprocess.run([RAMP, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    if fits:  # machine-readable output (JSON) is exempt
        assert all(len(line) <= 80 for line in done.stdout.splitlines()), done.stdout
    return done


def test_status_reads_as_text(settings, runtime):
    ramp80(settings, "pause", "bulk", "--reason", "list cleanup", "--by", "alice")
    out = ramp80(settings, "status").stdout
    for raw in ("None", "False", "True", "_ms", "{", "transactional_reserve_left"):
        assert raw not in out, raw
    assert "paused: bulk" in out and "by alice since" in out and "reason: list cleanup" in out
    assert "breaker" in out and "last 5 min" in out and "last 24 h" in out
    assert "probation" in out and "held by workers" in out


def test_dead_letter_ids_are_never_cut(settings, runtime):
    p = Producer(settings)
    wires = [p.prepare({"to": [f"d{i}@example.com"], "subject": "s", "text": "t", "kind": "bulk", "list": "news"}).to_wire() for i in range(2)]
    p.close()
    for w in wires:
        runtime.deferrals.dead_letter(w, 10, "TooManyRequestsException: " + "a long reason " * 12, runtime.budget.now_ms())
    out = ramp80(settings, "dead", "list").stdout
    for w in wires:
        assert w["id"] in out


def test_empty_lists_say_so(settings, runtime):
    assert ramp80(settings, "suppress", "list").stdout.strip() == "no suppressed addresses"
    assert ramp80(settings, "dead", "list").stdout.strip() == "no dead letters"


def test_one_wording_for_confirmations(settings, runtime):
    assert ramp80(settings, "pause", "bulk", "--reason", "x").stdout.strip() == "paused bulk: x"
    assert ramp80(settings, "pause", "bulk", "--reason", "y").stdout.strip().startswith("paused bulk already")
    assert ramp80(settings, "resume", "bulk").stdout.strip() == "resumed bulk"
    assert ramp80(settings, "resume", "bulk").stdout.strip().startswith("resumed bulk already")


@pytest.mark.parametrize("command", [[], ["status"], ["flush"], ["simulate"], ["dead", "list"], ["enqueue"], ["worker"]])
def test_help_has_no_stray_labels(settings, command):
    out = ramp80(settings, *command, "--help").stdout
    assert "<bool>" not in out and "Usage:" in out


def test_simulate_prints_totals_within_80_columns(settings):
    out = ramp80(settings, "simulate", "--days", "4").stdout
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert total.rstrip().endswith(("never", "days")), total


def test_enqueue_schema_is_the_message_json_schema(settings):
    schema = json.loads(ramp80(settings, "enqueue", "--schema", fits=False).stdout)
    assert {"to", "subject", "kind", "from"} <= set(schema["properties"])
    assert "subject" in schema["required"]


def test_dead_purge_deletes_only_what_is_older_and_status_shows_the_size(settings, runtime):
    p = Producer(settings)
    old, new = (p.prepare({"to": [f"{n}@example.com"], "subject": "s", "text": "t"}).to_wire() for n in ("old", "new"))
    p.close()
    now = runtime.budget.now_ms()
    runtime.deferrals.dead_letter(old, 1, "old failure", now - 40 * 86_400_000)
    runtime.deferrals.dead_letter(new, 1, "new failure", now - 86_400_000)
    assert "dead letters" in (status := ramp80(settings, "status").stdout) and "KiB of Redis; kept 30 days" in status
    assert "purged 1 dead letter(s) older than 30d" in ramp80(settings, "dead", "purge", "--older-than", "30d").stdout
    assert [e["message"]["id"] for e in runtime.deferrals.dead_entries()] == [new["id"]]
    bad = subprocess.run([RAMP, "dead", "purge", "--older-than", "soon"], capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if not k.startswith("RAMP_")} | settings_env(settings))
    assert bad.returncode != 0 and "--older-than 'soon'" in bad.stderr and "Traceback" not in bad.stderr


def test_the_fleet_duty_purges_dead_letters_past_the_retention_once_an_hour(settings, runtime):
    from ses_ramp.worker.fleet.housekeeping import purge_expired_dead

    w = Producer(settings).prepare({"to": ["x@example.com"], "subject": "s", "text": "t"}).to_wire()
    runtime.deferrals.dead_letter(w, 1, "failure", runtime.budget.now_ms())
    assert purge_expired_dead(runtime, 30) == 0  # young: kept
    runtime.client.incrby(runtime.budget.keys.clock_offset_ms, 31 * 86_400_000)
    assert purge_expired_dead(runtime, 30) == 0  # the hourly lock from the first call holds
    runtime.client.delete(runtime.budget.keys.lock("dead_purge"))
    assert purge_expired_dead(runtime, 30) == 1 and runtime.deferrals.dead_entries() == []
