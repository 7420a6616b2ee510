"""`POST /v1/messages` (batches of 100, a real `ramp serve`) against `Producer.enqueue_many` in-process.

Both enqueue the same messages into the same Redis; rounds alternate which goes first (ABBA), and
every figure is measured in this run. Everything written under the bench's key prefix is deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis

from bench.campaigns import CONTENT, batches, used
from bench.guard import PREFIX
from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers import Producer
from ses_ramp.producers.campaigns import from_csv
from ses_ramp.worker.ops.embedded import free_port, stop_process_group

TOKEN = "bench-token"


def _batch(tag: str, n: int = 100) -> list[dict]:
    return [{"to": [f"{tag}{i}@example.com"], "subject": f"bench {i}", "text": "hello", "kind": "bulk", "list": "bench"} for i in range(n)]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def start_serve(s: Settings, env: dict[str, str], tmp: str) -> tuple[subprocess.Popen, str]:
    """A real `ramp serve` for `s`'s key prefix, answering; (process, base URL)."""
    port = free_port()
    serve_env = {**env, "RAMP_KEY_PREFIX": s.key_prefix, "RAMP_SERVE_PORT": str(port),
                 "RAMP_UNSUBSCRIBE_BASE_URL": str(s.unsubscribe_base_url), "RAMP_UNSUBSCRIBE_SECRET": "bench-secret-0123456789abcdef",
                 "RAMP_SERVE_TOKEN_SHA256": hashlib.sha256(TOKEN.encode()).hexdigest(), "RAMP_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ramp"), "serve"], env=serve_env,
                            stdout=open(os.path.join(tmp, f"serve-{port}.log"), "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            stop_process_group(proc)
            raise RuntimeError("ramp serve did not start")
        time.sleep(0.1)


def campaign_bytes(base: Settings, env: dict[str, str], tmp: str, n: int = 100_000) -> dict:
    """One campaign of `n` recipients posted as a CSV upload to a real `ramp serve`, and the same CSV through
    `Producer.enqueue_campaign`: Redis bytes per recipient of each (`MEMORY USAGE` of the recipient list, every
    element counted, and `used_memory` after - before) and the wall time of each. Everything is deleted after."""
    s = base.model_copy(update={"key_prefix": f"{PREFIX}-bc{uuid.uuid4().hex[:6]}", "unsubscribe_base_url": "https://bench.invalid",
                                "unsubscribe_secret": "bench-secret-0123456789abcdef", "probe_new_recipients": 0})

    rows = "email,first_name,engagement\n" + "".join(f"c{i}@example{i % 500}.com,Reader{i},0.{i % 10}\n" for i in range(n))
    path = Path(tmp) / "campaign.csv"
    path.write_text(rows)
    keys = Keys(s.key_prefix)
    proc, url = start_serve(s, {**env, "RAMP_PROBE_NEW_RECIPIENTS": "0"}, tmp)
    client = redis.Redis.from_url(s.effective_redis_url)
    out: dict = {"n": n, "csv_mb": len(rows.encode()) / 2**20}
    try:
        before = used(client)
        t0 = time.perf_counter()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300) as http:
            answer = http.post("/v1/campaigns", files={"recipients": ("campaign.csv", path.read_bytes(), "text/csv")},
                               data={"content": json.dumps(CONTENT), "campaign_id": "via-http"})
        assert answer.status_code == 202, answer.text
        out["http_s"], after = time.perf_counter() - t0, used(client)
        out["http_b"] = int(client.memory_usage(keys.campaign_rcpts("via-http"), samples=0)) / n
        out["http_used_b"] = (after - before) / n
        producer = Producer(s)
        before = used(client)
        t0 = time.perf_counter()
        producer.enqueue_campaign(CONTENT, from_csv(path), campaign_id="via-producer")
        out["producer_s"], after = time.perf_counter() - t0, used(client)
        producer.close()
        out["producer_b"] = int(client.memory_usage(keys.campaign_rcpts("via-producer"), samples=0)) / n
        out["producer_used_b"] = (after - before) / n
    finally:
        stop_process_group(proc)
        for batch in batches(client.scan_iter(f"{s.key_prefix}:*", count=1000), 1000):
            client.unlink(*batch)
        client.close()
    return out


def http_vs_in_process(base: Settings, env: dict[str, str], tmp: str, rounds: int = 8, per_round: int = 25) -> dict:
    s = base.model_copy(update={"key_prefix": f"{PREFIX}-bh{uuid.uuid4().hex[:6]}", "unsubscribe_base_url": "https://bench.invalid",
                                "unsubscribe_secret": "bench-secret-0123456789abcdef"})
    proc, url = start_serve(s, env, tmp)
    client = redis.Redis.from_url(s.effective_redis_url)
    producer = Producer(s)
    http_ms: list[float] = []
    local_ms: list[float] = []
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
            http.post("/v1/messages", json=_batch("warm"))  # first request pays imports and connections
            producer.enqueue_many(_batch("warm"))

            def via_http(k: int) -> None:
                for j in range(per_round):
                    t0 = time.perf_counter()
                    answer = http.post("/v1/messages", json=_batch(f"h{k}-{j}-"))
                    http_ms.append((time.perf_counter() - t0) * 1000)
                    assert answer.status_code == 202, answer.text

            def in_process(k: int) -> None:
                for j in range(per_round):
                    t0 = time.perf_counter()
                    producer.enqueue_many(_batch(f"p{k}-{j}-"))
                    local_ms.append((time.perf_counter() - t0) * 1000)

            for k in range(rounds):  # ABBA: each side goes first in half the rounds
                first, second = (via_http, in_process) if k % 4 in (0, 3) else (in_process, via_http)
                first(k)
                second(k)
    finally:
        producer.close()
        stop_process_group(proc)
        for key in client.scan_iter(f"{s.key_prefix}:*", count=1000):
            client.delete(key)
        client.close()

    def summary(ms: list[float]) -> dict:
        return {"p50_ms": statistics.median(ms), "p99_ms": _pct(ms, 0.99), "min_ms": min(ms), "max_ms": max(ms),
                "msg_per_s": 100 * len(ms) / (sum(ms) / 1000), "requests": len(ms)}

    return {"http": summary(http_ms), "local": summary(local_ms), "rounds": rounds}
