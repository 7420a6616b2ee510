"""`ramp serve` for real: a uvicorn process, exercised over HTTP with httpx and curl, draining to moto
through real workers. Also the RFC 8058 round trip from the header moto stored to the refusal."""

from __future__ import annotations

import email
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from email import policy
from pathlib import Path

import httpx
import pytest

from ses_ramp.producers import Producer, Unsubscribed
from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port
from ses_ramp.worker.ops.status import queue_depths
from tests.helpers import accepted_by_moto, settings_env, wait_for

TOKEN = "test-ingest-token-9f3c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BIG = {"warmup_start_per_day": 1_000_000, "warmup_target_per_day": 1_000_000, "rate_per_s": 200}


def start_serve(settings, tmp_path: Path, **env_extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")} | settings_env(settings) | {
        "RAMP_SERVE_PORT": str(port), "RAMP_SERVE_TOKEN_SHA256": hashlib.sha256(TOKEN.encode()).hexdigest(), **env_extra}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ramp"), "serve"], env=env, stdout=open(tmp_path / f"serve-{port}.log", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None  # died: stop waiting, the assertion below says so

    wait_for(up, 60, 0.1, "ramp serve to answer")
    assert proc.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
    return proc, base


@pytest.fixture
def serve(settings, tmp_path):
    procs = []

    def start(s=None, **env):
        proc, base = start_serve(s or settings, tmp_path, **env)
        procs.append(proc)
        return base

    yield start
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def bulk(i: int, list_id: str = "news") -> dict:
    return {"to": [f"h{i}@example.com"], "subject": f"hello {i}", "text": "x", "kind": "bulk", "list": list_id}


def depth(runtime, settings) -> int:
    return sum(queue_depths(runtime.client, settings.key_prefix).values())


def test_ingest_answers_each_case_and_enqueues_only_whole_valid_batches(settings, runtime, serve):
    base = serve()
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.post("/v1/messages", json=bulk(1)).status_code == 401
        assert http.post("/v1/messages", json=bulk(1), headers={"Authorization": "Bearer nope"}).status_code == 403
        bad = http.post("/v1/messages", json=[bulk(1), {**bulk(2), "to": ["not-an-address"]}, {**bulk(3), "engagement": 7}], headers=AUTH)
        assert bad.status_code == 422
        assert [(e["index"], e["field"]) for e in bad.json()["errors"]] == [(1, "to"), (2, "engagement")]
        assert depth(runtime, settings) == 0, "nothing from a batch with a bad item"
        assert http.post("/v1/messages", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}).status_code == 400
        too_many = [bulk(i) for i in range(settings.serve_max_batch + 1)]
        assert http.post("/v1/messages", json=too_many, headers=AUTH).status_code == 413
        huge = http.post("/v1/messages", content=b"[" + b" " * settings.serve_max_body_bytes + b"]",
                         headers={**AUTH, "Content-Type": "application/json"})
        assert huge.status_code == 413
        one = http.post("/v1/messages", json=bulk(4), headers=AUTH)
        assert one.status_code == 202 and len(one.json()["receipts"]) == 1
        many = http.post("/v1/messages", json=[bulk(i) for i in range(5, 15)], headers=AUTH)
        assert many.status_code == 202 and [r["kind"] for r in many.json()["receipts"]] == ["bulk"] * 10
        assert depth(runtime, settings) == 11
        st = http.get("/v1/status", headers=AUTH)
        assert st.status_code == 200 and st.json()["queues"]["bulk"] == 11
        assert http.get("/v1/status").status_code == 401
        assert http.get("/healthz").json() == {"ok": True}
        assert http.get("/u/garbage-token-4711").status_code == 400
        metrics = http.get("/metrics").text
        assert 'ses_ramp_http_requests_total{route="/v1/messages",status="202"} 2.0' in metrics
        # Requests are counted by route template: a token never reaches the metrics.
        assert 'ses_ramp_http_requests_total{route="/u/{token}",status="400"} 1.0' in metrics and "4711" not in metrics


def test_redis_down_is_503_with_retry_after(settings, serve, tmp_path):
    server = EmbeddedRedis(free_port(), tmp_path / "r", persist=False).start()
    s = settings.model_copy(update={"redis_url": server.url})
    base = serve(s)
    server.stop()
    answer = httpx.post(f"{base}/v1/messages", json=bulk(1), headers=AUTH, timeout=30)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert httpx.get(f"{base}/healthz", timeout=30).status_code == 503


def test_the_service_imports_no_worker_code(settings):
    code = ("import sys; from ses_ramp.config import load_settings; from ses_ramp.producers.http.app import create_app; "
            "create_app(load_settings()); "
            "bad = sorted(m for m in sys.modules if m.startswith(('ses_ramp.worker', 'boto3', 'botocore'))); print(bad)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")} | settings_env(settings)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_curl_end_to_end_through_real_workers_to_moto(settings, serve, moto_ses, workers, tmp_path):
    s = settings.model_copy(update=BIG)
    base = serve(s)
    workers(count=1, concurrency=2, s=s)
    curl = shutil.which("curl")
    assert curl, "curl is part of the test image (a non-Python client)"
    body = json.dumps([{"to": ["curl@example.com"], "subject": "from curl", "text": "hi", "kind": "transactional"}, bulk(99, "digest")])
    done = subprocess.run([curl, "-sS", "-X", "POST", f"{base}/v1/messages", "-H", f"Authorization: Bearer {TOKEN}",
                           "-H", "Content-Type: application/json", "--data-binary", body, "-w", "\n%{http_code}"],
                          capture_output=True, text=True, timeout=60)
    payload, status = done.stdout.rsplit("\n", 1)
    assert status == "202", done.stdout + done.stderr
    ids = {r["id"] for r in json.loads(payload)["receipts"]}
    wait_for(lambda: len(accepted_by_moto(moto_ses, ids)) == 2, 60, what="both curl messages at moto")


def test_one_click_round_trip_from_the_header_moto_stored(settings, serve, moto_ses, workers, runtime):
    s = settings.model_copy(update=BIG)
    base = serve(s)
    s = s.model_copy(update={"unsubscribe_base_url": base})  # links point at this server
    p = Producer(s)
    receipt = p.enqueue(bulk(7, "weekly"))
    workers(count=1, concurrency=1, s=s)
    sent = wait_for(lambda: accepted_by_moto(moto_ses, {receipt.id}), 60, what="the bulk message at moto")
    mime = email.message_from_string(sent[0].raw_data, policy=policy.default)
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and mime["List-Id"].startswith("<weekly.")
    url = mime["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    assert url.startswith(f"{base}/u/")
    key = runtime.budget.keys.unsubscribed("weekly")
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert runtime.client.scard(key) == 0, "a GET (a link scanner) changes nothing"
    tampered = url[:-3] + ("x" if url[-3] != "x" else "y") + url[-2:]
    assert httpx.post(tampered, content="List-Unsubscribe=One-Click", timeout=10,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
    assert httpx.post(url, content="something=else", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10).status_code == 400
    assert runtime.client.scard(key) == 0
    done = httpx.post(url, content="List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert done.status_code == 200 and runtime.client.sismember(key, "h7@example.com")
    with pytest.raises(Unsubscribed):
        p.enqueue(bulk(7, "weekly"))
    p.enqueue(bulk(7, "offers"))  # other lists are unaffected
    p.enqueue({"to": ["h7@example.com"], "subject": "receipt", "text": "x"})  # and so is transactional mail
    refused = httpx.post(f"{base}/v1/messages", json=bulk(7, "weekly"), headers=AUTH, timeout=10)
    assert refused.status_code == 422 and "unsubscribed" in refused.json()["errors"][0]["message"]
    p.close()


def test_ingest_fuzzed_from_its_own_openapi_document(settings, runtime, serve):
    """schemathesis generates requests from /openapi.json, valid and invalid: no answer is a 500, every
    answer is one the document names, and the queue holds exactly the messages that got a receipt."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from schemathesis import GenerationMode

    base = serve()
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operation = schema["/v1/messages"]["POST"]
    documented = {int(code) for code in operation.definition.raw["responses"]}
    first = httpx.post(f"{base}/v1/messages", json=bulk(1), headers=AUTH, timeout=10)
    accepted: list[str] = [r["id"] for r in first.json()["receipts"]]  # one known-good message among the fuzz
    seen: dict[GenerationMode, set[int]] = {GenerationMode.POSITIVE: set(), GenerationMode.NEGATIVE: set()}

    def fuzz(mode: GenerationMode) -> None:
        statuses = seen[mode]

        @given(case=operation.as_strategy(generation_mode=mode))
        @hsettings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def exercise(case) -> None:
            response = case.call(base_url=base, headers=AUTH)
            statuses.add(response.status_code)
            assert response.status_code < 500, response.text
            assert response.status_code in documented, (response.status_code, response.text)
            if response.status_code == 202:
                accepted.extend(r["id"] for r in response.json()["receipts"])

        exercise()

    fuzz(GenerationMode.POSITIVE)
    fuzz(GenerationMode.NEGATIVE)
    # Negative cases may also strip or garble the bearer token (401/403); positive ones never do.
    assert 422 in seen[GenerationMode.NEGATIVE] and not seen[GenerationMode.POSITIVE] & {401, 403}, seen

    assert depth(runtime, settings) == len(accepted), "a refused request enqueued something"


def test_one_click_takes_multipart_form_data_and_options_lists_post(settings, serve, runtime):
    from ses_ramp.producers.unsubscribe import make_token

    base = serve()
    url = f"{base}/u/{make_token(settings.unsubscribe_secret.get_secret_value(), 'mp@example.com', 'weekly')}"
    key = runtime.budget.keys.unsubscribed("weekly")
    wrong = httpx.post(url, files={"List-Unsubscribe": (None, "Something")}, timeout=10)
    assert wrong.status_code == 400 and runtime.client.scard(key) == 0
    done = httpx.post(url, files={"List-Unsubscribe": (None, "One-Click")}, timeout=10)  # multipart/form-data
    assert done.status_code == 200 and runtime.client.sismember(key, "mp@example.com")
    allowed = httpx.options(url, timeout=10)
    assert allowed.status_code == 204 and "POST" in allowed.headers["allow"]


def test_ingest_refuses_deep_json_and_wrong_content_types_in_one_answer_each(settings, serve, runtime):
    base = serve()
    deep = "[" * 5000 + "]" * 5000
    answer = httpx.post(f"{base}/v1/messages", content=deep, headers={**AUTH, "Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 400 and "nested too deeply" in answer.json()["errors"][0]["message"]
    good = json.dumps({"to": ["a@example.com"], "subject": "s", "text": "t"})
    for headers in ({"Content-Type": "text/plain"}, {}):
        refused = httpx.post(f"{base}/v1/messages", content=good, headers={**AUTH, **headers}, timeout=10)
        assert refused.status_code == 415, refused.text
    garbled = httpx.post(f"{base}/v1/messages", content="{nope", headers={**AUTH, "Content-Type": "application/json"}, timeout=10)
    assert garbled.status_code == 400
    assert sum(queue_depths(runtime.client, settings.key_prefix).values()) == 0  # nothing was enqueued


def test_the_openapi_document_requires_a_body_and_a_recipient_and_names_metrics_as_text(settings, serve):
    import jsonschema

    doc = httpx.get(f"{serve()}/openapi.json", timeout=10).json()
    validator = jsonschema.Draft202012Validator({"components": doc["components"], **doc["components"]["schemas"]["Message"]})
    assert validator.is_valid({"to": ["a@example.com"], "subject": "s", "text": "t"})
    assert not validator.is_valid({"to": ["a@example.com"], "subject": "s"})  # no body
    assert not validator.is_valid({"subject": "s", "text": "t"})  # no recipient
    assert not validator.is_valid({"to": [], "subject": "s", "text": "t"})
    metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert metrics and all(k.startswith("text/plain") for k in metrics)
