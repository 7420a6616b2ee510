"""Campaigns through the HTTP door: a real `ramp serve` (uvicorn), JSON and CSV uploads, the same checks and
stored bytes as `Producer.enqueue_campaign`, progress and cancel, real workers sending to moto, and the
routes fuzzed from the OpenAPI document."""

from __future__ import annotations

import json

import httpx

from ses_ramp.producers import Producer
from ses_ramp.producers.campaigns import from_csv
from tests.helpers import accepted_by_moto, wait_for
from tests.integration.test_http_service import AUTH, BIG, serve  # noqa: F401 - the fixture

CONTENT = {"subject": "Hi {{ first_name }}", "text": "Hello {{ first_name }}, code {{ code }}.", "list": "news"}


def csv_rows(n: int, tag: str = "web") -> str:
    return "email,first_name,code,engagement\n" + "".join(f"{tag}{i}@example.com,R{i},C{i},0.{i % 10}\n" for i in range(n))


def upload(http, rows: str, **fields):
    return http.post("/v1/campaigns", headers=AUTH, files={"recipients": ("list.csv", rows.encode(), "text/csv")},
                     data={"content": json.dumps(CONTENT), **fields})


def test_a_campaign_posted_as_json_is_sent_by_real_workers_once_and_its_progress_read_back(settings, serve, moto_ses, workers):  # noqa: F811
    s = settings.model_copy(update=BIG)
    base = serve(s)
    rows = [{"email": f"j{i}@example.com", "first_name": f"J{i}", "code": f"K{i}"} for i in range(60)]
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.post("/v1/campaigns", json={"content": CONTENT, "recipients": rows}).status_code == 401
        posted = http.post("/v1/campaigns", json={"content": CONTENT, "recipients": rows, "campaign_id": "web-json"}, headers=AUTH)
        assert posted.status_code == 202, posted.text
        receipt = posted.json()
        assert (receipt["campaign_id"], receipt["recipients"], receipt["kind"]) == ("web-json", 60, "bulk")
        again = http.post("/v1/campaigns", json={"content": CONTENT, "recipients": rows, "campaign_id": "web-json"}, headers=AUTH)
        assert again.status_code == 409 and "already exists" in again.json()["errors"][0]["message"]
        workers(count=1, concurrency=2, s=s)
        ids = {f"web-json-{i}" for i in range(60)}
        wait_for(lambda: len(accepted_by_moto(moto_ses, ids)) == 60, 90, 0.2, "the campaign's recipients to go out")
        wait_for(lambda: http.get("/v1/campaigns/web-json", headers=AUTH).json()["done"], 30, 0.2, "the campaign to settle")
        progress = http.get("/v1/campaigns/web-json", headers=AUTH).json()
        assert (progress["total"], progress["fed"], progress["settled"], progress["waiting"]) == (60, 60, 60, 0)
        assert len(accepted_by_moto(moto_ses, ids)) == 60  # each once
        assert http.get("/v1/campaigns/nope", headers=AUTH).status_code == 404


def test_a_csv_upload_is_stored_byte_for_byte_as_enqueue_campaign_stores_it_and_bad_uploads_get_one_line(
        settings, serve, runtime, tmp_path):  # noqa: F811
    base = serve(settings, RAMP_SERVE_MAX_CAMPAIGN_BYTES="65536")
    k = runtime.budget.keys
    rows = csv_rows(500)
    with httpx.Client(base_url=base, timeout=30) as http:
        posted = upload(http, rows, campaign_id="web-csv")
        assert posted.status_code == 202, posted.text
        assert posted.json()["recipients"] == 500
        (tmp_path / "list.csv").write_text(rows)
        producer = Producer(settings)
        producer.enqueue_campaign(CONTENT, from_csv(tmp_path / "list.csv"), campaign_id="cli-csv")
        producer.close()
        assert runtime.client.lrange(k.campaign_rcpts("web-csv"), 0, -1) == runtime.client.lrange(k.campaign_rcpts("cli-csv"), 0, -1)
        assert runtime.client.memory_usage(k.campaign_rcpts("web-csv"), samples=0) == runtime.client.memory_usage(
            k.campaign_rcpts("cli-csv"), samples=0)

        bad_row = upload(http, rows + "broken@,x,y,7\n", campaign_id="bad-row")
        assert bad_row.status_code == 422 and "line 502" in bad_row.json()["errors"][0]["message"]
        latin = http.post("/v1/campaigns", headers=AUTH, data={"content": json.dumps(CONTENT)},
                          files={"recipients": ("l.csv", "email,first_name,code\nm@example.com,Jos\xe9,1\n".encode("latin-1"), "text/csv")})
        assert latin.status_code == 422 and "not UTF-8" in latin.json()["errors"][0]["message"]
        big = upload(http, csv_rows(2000))
        assert big.status_code == 413 and "RAMP_SERVE_MAX_CAMPAIGN_BYTES" in big.json()["errors"][0]["message"]
        no_file = http.post("/v1/campaigns", headers=AUTH, files={"content": (None, json.dumps(CONTENT))})
        assert no_file.status_code == 422 and no_file.json()["errors"][0]["field"] == "recipients"
        text = http.post("/v1/campaigns", headers={**AUTH, "Content-Type": "text/plain"}, content=b"hello")
        assert text.status_code == 415
        assert not runtime.client.exists(k.campaign("bad-row"))  # refused whole: nothing stored

        cancelled = http.post("/v1/campaigns/web-csv/cancel", headers=AUTH)
        assert cancelled.status_code == 200 and cancelled.json() == {"dropped": 500, "in_flight": 0}
        assert http.get("/v1/campaigns/web-csv", headers=AUTH).json()["done"] is True
        assert http.post("/v1/campaigns/nope/cancel", headers=AUTH).status_code == 404


def test_the_campaign_routes_fuzzed_from_their_openapi_document(settings, serve, runtime):  # noqa: F811
    """schemathesis generates requests for every campaign route from /openapi.json: no answer is a 500 and
    every answer is one the document names; only requests answered 202 stored a campaign."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from schemathesis import GenerationMode

    base = serve()
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    accepted: list[str] = []

    def fuzz(operation, mode: GenerationMode) -> None:
        documented = {int(code) for code in operation.definition.raw["responses"]} | {422}  # FastAPI's own path check

        @given(case=operation.as_strategy(generation_mode=mode))
        @hsettings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def exercise(case) -> None:
            response = case.call(base_url=base, headers=AUTH)
            assert response.status_code < 500, response.text
            assert response.status_code in documented, (response.status_code, response.text)
            if response.status_code == 202:
                accepted.append(response.json()["campaign_id"])

        exercise()

    for path, method in (("/v1/campaigns", "POST"), ("/v1/campaigns/{campaign_id}", "GET"), ("/v1/campaigns/{campaign_id}/cancel", "POST")):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(schema[path][method], mode)
    stored = {m.decode() if isinstance(m, bytes) else m for m in runtime.client.zrange(runtime.budget.keys.campaigns, 0, -1)}
    assert stored <= set(accepted)
