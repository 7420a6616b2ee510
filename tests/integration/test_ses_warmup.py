"""`ramp setup --check` reads SES's own warm-up (issue 23): the account's automatic warm-up, the pool's
scaling mode, each IP's WarmupStatus and WarmupPercentage. moto lacks these calls and fields, so SES's
answers come from botocore's Stubber, in SES's real response shapes (the Stubber validates them)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

import ses_ramp.worker.ops.setup_aws as setup_aws
from ses_ramp.worker.cli import cli
from tests.helpers import settings_env

POOL = "ses-ramp-pool"


@pytest.fixture
def ses(settings, monkeypatch):
    client = boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    stub = Stubber(client)
    monkeypatch.setattr(setup_aws, "setup_clients", lambda _s: {"sesv2": client})
    env = settings_env(settings.model_copy(update={"from_address": None, "dedicated_ip_pool": POOL}))
    with stub:
        yield stub, env


def answer(stub, auto_warmup: bool, mode: str, ips: list[tuple[str, str, int]]) -> None:
    stub.add_response("get_account", {"DedicatedIpAutoWarmupEnabled": auto_warmup, "EnforcementStatus": "HEALTHY",
                                      "ProductionAccessEnabled": True,
                                      "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 0.0}})
    stub.add_response("get_dedicated_ip_pool", {"DedicatedIpPool": {"PoolName": POOL, "ScalingMode": mode}}, {"PoolName": POOL})
    stub.add_response("get_dedicated_ips", {"DedicatedIps": [
        {"Ip": ip, "WarmupStatus": status, "WarmupPercentage": pct, "PoolName": POOL} for ip, status, pct in ips]},
        {"PoolName": POOL})


def test_check_reports_automatic_warmup_on_and_each_ips_percentage(ses):
    stub, env = ses
    answer(stub, True, "STANDARD", [("198.51.100.7", "IN_PROGRESS", 35), ("198.51.100.8", "DONE", 100)])
    done = CliRunner().invoke(cli, ["setup", "--check"], env=env)
    assert "SES's automatic warm-up is on: two ramps would stack" in done.output
    assert "ramp setup --ses-auto-warmup off" in done.output
    assert "IP 198.51.100.7: SES warm-up IN_PROGRESS, 35%" in done.output
    assert "IP 198.51.100.8: SES warm-up DONE, 100%" in done.output
    assert "From domain" in done.output  # then the domain checks (failing here: no RAMP_FROM_ADDRESS)
    stub.assert_no_pending_responses()


def test_the_switch_turns_automatic_warmup_off_and_check_says_so(ses):
    stub, env = ses
    stub.add_response("put_account_dedicated_ip_warmup_attributes", {}, {"AutoWarmupEnabled": False})
    answer(stub, False, "STANDARD", [("198.51.100.7", "IN_PROGRESS", 35)])
    done = CliRunner().invoke(cli, ["setup", "--check", "--ses-auto-warmup", "off"], env=env)
    assert "SES's automatic warm-up is off" in done.output and "two ramps" not in done.output
    stub.assert_no_pending_responses()


def test_a_managed_pool_is_refused_with_one_line(ses):
    stub, env = ses
    answer(stub, False, "MANAGED", [])
    done = CliRunner().invoke(cli, ["setup", "--check"], env=env)
    assert done.exit_code == 1
    refused = [line for line in done.output.splitlines() if "MANAGED" in line]
    assert len(refused) == 1 and "SES warms and scales it itself" in refused[0]
    assert "From domain" not in done.output  # refused before anything else
    stub.assert_no_pending_responses()


def test_worker_preflight_warns_and_status_shows_ses_percentages_and_ips_outside_the_pool(ses, settings, runtime):
    """The worker's preflight warns (never refuses) when SES's automatic warm-up is on and keeps what it
    read; `ramp status` shows SES's percentage per IP beside ses-ramp's step, and flags dedicated mail
    that SES delivered from an IP outside the pool."""
    from ses_ramp.worker.cli.render import status_rows
    from ses_ramp.worker.guards.events import EventStore, handle_body
    from ses_ramp.worker.ops.preflight import ses_warmup_notes
    from ses_ramp.worker.ops.status import collect
    from tests import ses_events as ev

    stub, _ = ses
    answer(stub, True, "STANDARD", [("198.51.100.7", "IN_PROGRESS", 35)])
    client = setup_aws.setup_clients(settings)["sesv2"]
    s = settings.model_copy(update={"dedicated_ip_pool": POOL})
    refused, warnings = ses_warmup_notes(s, client, runtime.client, runtime.budget.keys, runtime.budget.now_ms())
    assert refused == [] and len(warnings) == 1 and "two ramps would stack" in warnings[0]
    runtime.budget.roll_day()
    store = EventStore(runtime.client, runtime.budget.keys, settings.day_timezone)
    for ip, n in (("198.51.100.7", 3), ("203.0.113.9", 1)):  # the second: an IP SES chose outside the pool
        for i in range(n):
            event = ev.delivery([f"r{ip}-{i}@example.com"])
            event["mail"]["tags"]["ses:outgoing-ip"] = [ip]
            handle_body(store, runtime.budget, ev.sns(event))
    data = collect(runtime)
    assert data["ses_warmup"]["ips"] == [{"ip": "198.51.100.7", "status": "IN_PROGRESS", "percentage": 35}]
    [(day, ips)] = data["outgoing_ips"].items()
    assert ips == {"deliveries": {"198.51.100.7": 3, "203.0.113.9": 1}, "outside_pool": ["203.0.113.9"]}
    rows = dict(status_rows(data, runtime.budget.now_ms()))
    assert rows["  IP 198.51.100.7"] == f"SES IN_PROGRESS 35%, beside ses-ramp's step {data['step'] + 1}"
    assert "automatic on" in rows["SES's own warm-up"]


@pytest.mark.parametrize("dedicated_ips, expected_ips", [(0, 2), (3, 3)])
def test_the_days_cap_is_the_per_ip_schedule_times_the_ips_warming(settings, redis_client, dedicated_ips, expected_ips):
    """SES spreads a pool's mail over its IPs: two cold IPs (a third already DONE) carry twice the per-IP
    schedule, as SES listed them; RAMP_DEDICATED_IPS overrides what SES says."""
    from ses_ramp.config import schedule
    from ses_ramp.worker.ops.ses_warmup import IpWarmup, SesWarmup, store
    from ses_ramp.worker.send.runtime import Runtime
    from ses_ramp.worker.send.transports.noop import NoopTransport

    s = settings.model_copy(update={"dedicated_ips": dedicated_ips, "provider_mix": "google=0.5,other=0.5"})
    rt = Runtime.build(s, transport=NoopTransport())
    store(rt.client, rt.budget.keys, SesWarmup(POOL, False, "STANDARD", [
        IpWarmup("198.51.100.7", "IN_PROGRESS", 10), IpWarmup("198.51.100.8", "NOT_APPLICABLE", None),
        IpWarmup("198.51.100.9", "DONE", 100)]), rt.budget.now_ms())
    rt.budget.roll_day()
    day = rt.client.hgetall(rt.budget.keys.day)
    per_ip = schedule.cap_for(rt.budget.cfg, schedule.RampState())
    assert int(day["schedule_cap"]) == per_ip * expected_ips
    assert int(day["cap"]) <= per_ip * expected_ips
    # Each provider's cap grows with the pool too (its share of the pool's schedule, with headroom).
    assert int(day["cap@google"]) >= per_ip * expected_ips * 0.5
