"""`ramp status --vdm`: SES VDM's per-ISP figures (moto has no BatchGetMetricData: botocore's Stubber
answers with SES's response shapes)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.stub import ANY, Stubber

from ses_ramp.worker.ops.vdm import ISPS, METRICS, by_isp

START, END = datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 28, 18, tzinfo=UTC)


def client():
    return boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_sends_deliveries_bounces_and_complaints_per_isp_are_summed_per_provider():
    ses = client()
    ids = [f"{p}_{m.lower()}" for p in ISPS for m in METRICS]
    values = {i: [10 * n, n] for n, i in enumerate(ids, 1)}
    with Stubber(ses) as stub:
        for chunk in (ids[:10], ids[10:]):
            stub.add_response("batch_get_metric_data",
                              {"Results": [{"Id": i, "Timestamps": [START, END], "Values": values[i]} for i in chunk], "Errors": []},
                              {"Queries": ANY})
        view = by_isp(ses, START, END)
        stub.assert_no_pending_responses()
    assert view.problem == ""
    assert view.by_provider["google"] == {"sends": 11, "deliveries": 22, "hard_bounces": 33, "complaints": 44}
    assert view.by_provider["apple"]["complaints"] == 16 * 11


def test_the_queries_ask_vdm_for_each_isp_and_metric_over_the_day():
    ses = client()
    seen: list[dict] = []
    ses.meta.events.register("provide-client-params.sesv2.BatchGetMetricData", lambda params, **_: seen.extend(params["Queries"]))
    with Stubber(ses) as stub:
        for _ in range(2):
            stub.add_response("batch_get_metric_data", {"Results": [], "Errors": []}, {"Queries": ANY})
        by_isp(ses, START, END)
    assert {(q["Dimensions"]["ISP"], q["Metric"]) for q in seen} == {(isp, m) for isp in ISPS.values() for m in METRICS}
    assert all(q["Namespace"] == "VDM" and q["StartDate"] == START and q["EndDate"] == END for q in seen)


def test_vdm_not_enabled_is_one_line_not_a_table():
    ses = client()
    with Stubber(ses) as stub:
        stub.add_client_error("batch_get_metric_data", service_error_code="BadRequestException",
                              service_message="Virtual Deliverability Manager is not enabled", http_status_code=400)
        view = by_isp(ses, START, END)
    assert view.by_provider == {}
    assert view.problem.startswith("SES VDM: BadRequestException: Virtual Deliverability Manager is not enabled")
