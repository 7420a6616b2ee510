"""Configuration errors pause; they never dead-letter. A worker without credentials refuses to start;
one whose credentials are revoked while it runs pauses the fleet with the reason, keeps every
message, and sends them once the fix is in and an operator resumes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ses_ramp.producers import Producer
from ses_ramp.worker.ops.preflight import check_ses_api
from ses_ramp.worker.send.deferrals import PAUSE_RECHECK_S
from ses_ramp.worker.send.transports.ses_api import ses_client
from tests.helpers import accepted_by_moto, ramp, settings_env, wait_for

HERE = Path(__file__).resolve().parent.parent


def test_a_worker_without_credentials_refuses_to_start(settings, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAMP_", "AWS_"))} | settings_env(settings) | {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true", "COLUMNS": "80"}
    started = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).parent / "ramp"), "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "ses-ramp: cannot send as configured: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
        "(or give the host an instance role)"]
    assert time.monotonic() - started < 10


def test_preflight_names_an_unknown_configuration_set_and_an_unverified_identity(settings, moto_ses):
    assert check_ses_api(settings, ses_client(settings)) == []
    wrong = settings.model_copy(update={"configuration_set": "no-such-set", "from_address": "stranger@unverified.example"})
    problems = check_ses_api(wrong, ses_client(wrong))
    assert any("configuration set 'no-such-set' does not exist" in p for p in problems)
    assert any("stranger@unverified.example" in p and "not verified" in p for p in problems)


def test_revoked_credentials_pause_the_fleet_and_dead_letter_nothing(settings, moto_ses, workers, runtime, tmp_path):
    s = settings.model_copy(update={"warmup_start_per_day": 1_000_000, "warmup_target_per_day": 1_000_000, "rate_per_s": 200})
    flag = tmp_path / "revoked"
    workers(count=1, concurrency=2, s=s, env={"PYTHONPATH": f"{HERE / 'revoked_credentials'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                                              "RAMP_TEST_REVOKED_FLAG": str(flag)})
    p = Producer(s)
    before = {r.id for r in p.enqueue_many({"to": [f"ok{i}@example.com"], "subject": "s", "text": "t"} for i in range(5))}
    wait_for(lambda: len(accepted_by_moto(moto_ses, before)) == 5, 60, what="sends before the revocation")
    flag.touch()  # the keys are revoked at AWS
    after = {r.id for r in p.enqueue_many({"to": [f"later{i}@example.com"], "subject": "s", "text": "t"} for i in range(5))}
    p.close()
    paused = wait_for(lambda: runtime.client.hget(runtime.budget.keys.pause, "all"), 60, what="the fleet to pause")
    assert '"ses-config"' in paused and "UnrecognizedClientException" in paused
    assert runtime.deferrals.counts()["dead"] == 0
    assert accepted_by_moto(moto_ses, after) == []
    flag.unlink()  # new keys are in place
    ramp(s, "resume", "all")
    # The resume brings the kept messages forward: they go well inside the pause's 30 s recheck.
    wait_for(lambda: len(accepted_by_moto(moto_ses, after)) == 5, PAUSE_RECHECK_S - 10, what="every kept message to go after the resume")
    assert runtime.deferrals.counts()["dead"] == 0
