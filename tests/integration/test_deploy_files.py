"""No Docker engine here: parse the deployment files and run each service's command for real."""

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import redis
import yaml

from ses_ramp.worker.ops.embedded import free_port, redis_server_binary
from tests.helpers import redis_answers, settings_env, wait_for

ROOT = Path(__file__).resolve().parents[2]


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def healthcheck(service: str, env: dict) -> subprocess.CompletedProcess:
    """Run a compose service's own healthcheck command (`CMD` form) in this environment."""
    test = compose()["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    argv = test[1:]
    exe = str(Path(sys.executable).parent / argv[0]) if argv[0] != "python" else sys.executable
    return subprocess.run([exe, *argv[1:]], env=env, capture_output=True, text=True, timeout=60)


def dockerfile_healthcheck() -> str:
    """The shell command of the Dockerfile's HEALTHCHECK (without its `|| exit 1`)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("HEALTHCHECK"))
    return line.split(" CMD ", 1)[1].split("||")[0].strip()


def test_compose_parses_with_the_services_the_design_names():
    services = compose()["services"]
    assert {"redis", "worker", "beat", "events", "flower"} <= set(services)
    images = {svc.get("image") for name, svc in services.items() if name != "redis"}
    assert images == {"ses-ramp:latest"}  # one image, configured only by env
    assert "--appendonly" in services["redis"]["command"] and services["redis"]["volumes"]
    assert services["worker"]["deploy"]["replicas"] >= 2


def test_dockerfile_is_slim_non_root_with_healthcheck_and_worker_command():
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text and "USER ramp" in text and "HEALTHCHECK" in text
    assert 'CMD ["ramp", "worker"]' in text


def test_redis_service_command_runs(tmp_path):
    cmd = compose()["services"]["redis"]["command"]
    port = free_port()
    proc = subprocess.Popen([redis_server_binary(), *cmd[1:], "--port", str(port), "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        wait_for(lambda: redis_answers(client), 10, what="redis service")
        assert client.config_get("appendonly")["appendonly"] == "yes"
    finally:
        proc.terminate()
        proc.wait(10)


def test_worker_and_flower_commands_run(settings, tmp_path):
    services = compose()["services"]
    env = {**os.environ, **settings_env(settings)}
    worker_cmd = services["worker"]["command"]
    flower_cmd = services["flower"]["command"]
    assert worker_cmd == ["ramp", "worker"]
    bin_dir = Path(sys.executable).parent
    worker = subprocess.Popen([str(bin_dir / worker_cmd[0]), *worker_cmd[1:], "-c", "1"], env=env,
                              stdout=open(tmp_path / "w.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    port = free_port()
    flower = subprocess.Popen([str(bin_dir / flower_cmd[0]), *flower_cmd[1:-1], f"--port={port}", "--address=127.0.0.1"], env=env,
                              stdout=open(tmp_path / "f.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        from ses_ramp.worker.app import create_app

        app = create_app(settings)
        host = socket.gethostname()
        # `ramp worker` names its node itself: ramp-<6 hex>@<host>.
        names = wait_for(lambda: [n for r in app.control.ping(timeout=0.5) or [] for n in r], 60, 0.2, "ramp worker to answer ping")
        assert re.fullmatch(rf"ramp-[0-9a-f]{{6}}@{re.escape(host)}", names[0])
        # The Dockerfile's HEALTHCHECK, run for real against this worker.
        check = shlex.split(dockerfile_healthcheck())
        done = subprocess.run([str(bin_dir / check[0]), *check[1:]], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and names[0] in done.stdout, done.stdout + done.stderr
        import urllib.request

        def flower_up():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthcheck", timeout=1).read() == b"OK"
            except OSError:
                return False

        wait_for(flower_up, 60, 0.2, "flower to serve /healthcheck")
        # compose's flower healthcheck targets port 5555; this flower listens on a free port.
        test = services["flower"]["healthcheck"]["test"]
        probe = [a.replace("5555", str(port)) for a in test[1:]]
        assert subprocess.run([sys.executable, *probe[1:]], env=env, timeout=30).returncode == 0
    finally:
        for p in (worker, flower):
            os.killpg(p.pid, 15)
            p.wait(30)


def test_events_service_command_runs_against_sqs(settings, tmp_path, moto_ses):
    from ses_ramp.config.keys import Keys
    from ses_ramp.producers.redis_client import redis_from_settings
    from ses_ramp.worker.send.transports.aws import aws_client
    from tests import ses_events as ev

    cmd = compose()["services"]["events"]["command"]
    s = settings.model_copy(update={"events_queue_name": f"compose-{settings.key_prefix}", "events_wait_s": 1})
    sqs = aws_client(s, "sqs")
    url = sqs.create_queue(QueueName=s.events_queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=ev.sns(ev.complaint("compose@example.com")))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}, **settings_env(s)}
    proc = subprocess.Popen([str(Path(sys.executable).parent / cmd[0]), *cmd[1:]], env=env, stdout=open(tmp_path / "e.log", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    client = redis_from_settings(s)
    try:
        wait_for(lambda: client.sismember(Keys(s.key_prefix).suppressed, "compose@example.com"), 60, 0.2, "the events service to act")
        wait_for(lambda: healthcheck("events", env).returncode == 0, 60, 0.2, "the events healthcheck to pass")
    finally:
        os.killpg(proc.pid, 15)
        assert proc.wait(30) in (0, -15)
    assert healthcheck("events", env).returncode == 1  # stopped: its heartbeat is gone


def test_beat_service_moves_deferred_mail_for_workers_that_leave_it_the_duties(settings, tmp_path, moto_ses, workers, runtime):
    """Compose's workers run without the fleet duties; compose's beat command, run for real, moves a
    due deferred message back to them, then pauses everything when the event rates cross the trip."""
    from ses_ramp.producers import Producer
    from ses_ramp.worker.guards.events import Effects, EventStore
    from ses_ramp.worker.guards.pause import flags
    from tests.helpers import accepted_by_moto

    services = compose()["services"]
    assert services["worker"]["environment"]["RAMP_WORKER_HOUSEKEEPING"] == "false"
    s = settings.model_copy(update={"worker_housekeeping": False, "breaker_min_sample": 200})
    workers(count=1, concurrency=1, s=s)
    p = Producer(s)
    wire = p.prepare({"to": ["beat@example.com"], "subject": "deferred", "text": "x", "kind": "transactional"}).to_wire()
    p.close()
    runtime.deferrals.defer(wire, 1, 0, "421 earlier")  # due now: only a mover can bring it back

    cmd = services["beat"]["command"]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}, **settings_env(s)}
    beat = subprocess.Popen([str(Path(sys.executable).parent / cmd[0]), *cmd[1:]], env=env, stdout=open(tmp_path / "beat.log", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: len(accepted_by_moto(moto_ses, {wire["id"]})) == 1, 60, 0.2, "the beat to requeue it and the worker to send it")
        assert healthcheck("beat", env).returncode == 0
        assert runtime.deferrals.counts()["deferred"] == 0
        fx = Effects()
        fx.counts.update({"sends": 300, "hard_bounces": 15})  # 5%: over the 4% trip
        EventStore(runtime.client, runtime.budget.keys).record(fx, runtime.budget.now_ms())
        wait_for(lambda: "all" in flags(runtime.client, runtime.budget.keys), 30, 0.2, "the beat's breaker to pause everything")
        assert flags(runtime.client, runtime.budget.keys)["all"]["by"] == "breaker"
    finally:
        os.killpg(beat.pid, 15)
        code = beat.wait(30)
    assert code == 0, (tmp_path / "beat.log").read_text()[-2000:]
    assert b"beat_stopped" in (tmp_path / "beat.log").read_bytes()
    result = healthcheck("beat", env)
    assert result.returncode == 1 and "has not reported" in result.stderr


def test_serve_service_command_and_healthcheck(settings, tmp_path):
    """compose's `serve` runs `ramp serve`; its healthcheck passes while it runs and Redis answers."""
    svc = compose()["services"]["serve"]
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}, **settings_env(settings),
           "RAMP_SERVE_HOST": svc["environment"]["RAMP_SERVE_HOST"], "RAMP_SERVE_PORT": str(port)}
    cmd = svc["command"]
    proc = subprocess.Popen([str(Path(sys.executable).parent / cmd[0]), *cmd[1:]], env=env, stdout=open(tmp_path / "serve.log", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    test = svc["healthcheck"]["test"]
    probe = [a.replace("8025", str(port)) for a in test[1:]]
    try:
        wait_for(lambda: subprocess.run([sys.executable, *probe[1:]], env=env, timeout=30).returncode == 0, 60, 0.2, "the serve healthcheck to pass")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)
    assert subprocess.run([sys.executable, *probe[1:]], env=env, timeout=30, capture_output=True).returncode != 0  # stopped
