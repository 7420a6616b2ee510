"""Test helpers: real worker processes, and reading what moto's SES received."""

from __future__ import annotations

import base64
import contextlib
import email
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from ses_ramp.config import Settings


def settings_env(s: Settings) -> dict[str, str]:
    """RAMP_* variables that rebuild `s` in a child process."""
    env = {}
    for name, value in s.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, dict | list):  # pydantic-settings reads a complex setting as JSON
            env[f"RAMP_{name.upper()}"] = json.dumps(value)
        else:
            env[f"RAMP_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def wait_for(predicate: Callable[[], object], timeout_s: float = 60.0, interval_s: float = 0.05, what: str = "") -> object:
    """Poll `predicate` until it is truthy or the deadline passes (then fail naming `what`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}")
        time.sleep(interval_s)


class WorkerPool:
    """`count` real `celery -A ses_ramp.worker.app worker` processes, each with `concurrency` children."""

    def __init__(self, settings: Settings, tmp: Path, count: int, concurrency: int, extra_env: dict, supervised: bool = False) -> None:
        self.supervised = supervised
        self.settings = settings
        self.tmp = tmp
        self.count = count
        self.concurrency = concurrency
        self.extra_env = extra_env
        self.procs: list[subprocess.Popen] = []
        self.names: list[str] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
        env.update(settings_env(self.settings))
        env.update(self.extra_env)
        return env

    def start_one(self, index: int) -> subprocess.Popen:
        name = f"w{index}-{os.getpid()}-{time.monotonic_ns()}@{self.settings.key_prefix}"
        log = open(self.tmp / f"worker-{index}-{time.monotonic_ns()}.log", "wb")  # two pools may share `tmp`
        if self.supervised:  # `ramp worker`: the supervised form the Dockerfile runs
            cmd = [sys.executable, "-m", "ses_ramp.worker", "worker", "-c", str(self.concurrency), "-n", name]
        else:
            cmd = [sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "worker", "-Q", "transactional,bulk",
                   "-c", str(self.concurrency), "-n", name, "--without-gossip", "--without-mingle", "-l", "INFO"]
        proc = subprocess.Popen(
            cmd,
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.procs.append(proc)
        self.names.append(name)
        return proc

    def start(self) -> None:
        for i in range(self.count):
            self.start_one(i)
        self.wait_ready(self.names)

    def wait_ready(self, names: list[str], timeout_s: float = 60) -> None:
        from ses_ramp.worker.app import create_app

        app = create_app(self.settings)
        try:
            watched = [p for p, n in zip(self.procs, self.names) if n in names]

            def all_up():
                for p in watched:
                    if p.poll() is not None:
                        raise AssertionError(f"worker exited with {p.returncode}; logs in {self.tmp}")
                replies = app.control.ping(destination=names, timeout=0.5) or []
                seen = {n for r in replies for n in r}
                return set(names) <= seen

            wait_for(all_up, timeout_s, 0.1, "workers to answer ping")
        finally:
            app.close()

    def kill(self, index: int) -> None:
        """SIGKILL the worker's whole process group (main process and pool children)."""
        proc = self.procs[index]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("worker-*.log")))


_ids: dict[str, str | None] = {}


def ramp_id(sent) -> str | None:
    """The X-Ses-Ramp-Id of a message moto accepted (parsed once per message: moto's list only grows)."""
    key = getattr(sent, "id", None)
    if key in _ids:
        return _ids[key]
    raw = getattr(sent, "raw_data", None)
    value = None if raw is None else email.message_from_string(raw).get("X-Ses-Ramp-Id")
    if key is not None:
        _ids[key] = value
    return value


def accepted_by_moto(moto_ses, ids: set[str]) -> list:
    """Messages moto accepted whose ses-ramp id is in `ids` (duplicates kept, to count them)."""
    return [m for m in moto_ses.sent_messages() if ramp_id(m) in ids]


def reset_recording(moto_ses) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_ses.endpoint_url}/moto-api/recorder/reset-recording", method="POST"))


def recorded_send_requests(moto_ses) -> list[dict]:
    """SES v2 SendEmail request bodies moto's recorder saw, with the raw MIME decoded."""
    out = []
    with open(moto_ses.recording_path) as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # moto's threaded server can interleave two appends; reset_recording() first
            if not isinstance(entry, dict) or "url" not in entry:
                continue
            if not entry["url"].endswith("/v2/email/outbound-emails"):
                continue
            body = entry["body"]
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode()
            params = json.loads(body)
            params["mime"] = email.message_from_bytes(base64.b64decode(params["Content"]["Raw"]["Data"]))
            out.append(params)
    return out


class SesAnswers:
    """A botocore before-send hook answering SendEmail with real SES HTTP responses (botocore's own
    parser reads them), one per call from `answers`; None lets the request through to the endpoint.
    An exception instance is raised instead (network failures)."""

    def __init__(self, client, answers: list):
        self.answers = list(answers)
        self.calls = 0
        client.meta.events.register("before-send.sesv2.SendEmail", self)

    def __call__(self, request, **_):
        from botocore.awsrequest import AWSResponse

        self.calls += 1
        if not self.answers:
            return None
        answer = self.answers.pop(0)
        if answer is None:
            return None
        if isinstance(answer, BaseException):
            raise answer
        status, code, message = answer
        body = json.dumps({"message": message}).encode()
        headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/", "Content-Type": "application/json"}
        return AWSResponse(request.url, status, headers, _Raw(body))


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body

    def read(self, *_a, **_k):
        body, self.body = self.body, b""
        return body


def ramp(settings: Settings, *args: str, input: str | None = None, check: bool = True,
         timeout_s: float = 120, process: bool = False) -> subprocess.CompletedProcess:
    """Run the real `ramp` CLI against `settings`, as an operator's shell would: its entry point `main()`
    (the same parsing, commands and one-line error handling) with the environment a child process would
    get, its standard streams captured. In this process by default (a child costs a second of start-up);
    `process=True` runs it as a child `python -m ses_ramp.worker` (each command group keeps such a smoke
    test), and `timeout_s` bounds a hung child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    env.update(settings_env(settings))
    if process:
        done = subprocess.run([sys.executable, "-m", "ses_ramp.worker", *args], env=env, capture_output=True, text=True,
                              input=input, timeout=timeout_s)
    else:
        done = _in_process(env, list(args), input)
    if check and done.returncode != 0:
        raise AssertionError(f"ramp {' '.join(args)} exited {done.returncode}: {done.stdout}{done.stderr}")
    return done


def _swap_environ(env: dict[str, str]) -> None:
    for name in [k for k in os.environ if k not in env]:
        del os.environ[name]
    os.environ.update(env)


def _in_process(env: dict[str, str], args: list[str], input: str | None) -> subprocess.CompletedProcess:
    from ses_ramp.worker.cli import main

    saved_env, saved_argv, saved_stdin = dict(os.environ), sys.argv, sys.stdin
    stdout, stderr = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    _swap_environ(env)  # never empty meanwhile: moto's server thread reads it too
    sys.argv, sys.stdin = ["ramp", *args], io.StringIO(input or "")
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main()
            except SystemExit as exc:
                code = exc.code
    finally:
        _swap_environ(saved_env)
        sys.argv, sys.stdin = saved_argv, saved_stdin
    if isinstance(code, str):  # sys.exit("message"): printed, exit status 1, as Python does for a child
        stderr.write(code + "\n")
        code = 1
    return subprocess.CompletedProcess(["ramp", *args], int(code or 0), stdout.getvalue(), stderr.getvalue())


def active_queues(settings: Settings, name: str) -> set[str]:
    """What Celery's own `celery inspect active_queues` reports for worker `name`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    env.update(settings_env(settings))
    done = subprocess.run([sys.executable, "-m", "celery", "-A", "ses_ramp.worker.app", "inspect", "active_queues", "-d", name, "-j", "--timeout", "5"],
                          env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(done.stdout + done.stderr)
    data = json.loads(done.stdout[done.stdout.index("{"):])
    return {q["name"] for q in data.get(name, [])}


def answer_operation(client, operation: str, status: int, body: dict) -> list:
    """Answer every call of `operation` (an SES v2 operation moto lacks) with a real HTTP response
    that botocore's own parser reads. Returns the list of request bodies seen."""
    from botocore.awsrequest import AWSResponse

    seen: list = []

    def hook(request, **_):
        seen.append(json.loads(request.body) if request.body else {})
        return AWSResponse(request.url, status, {"Content-Type": "application/json"}, _Raw(json.dumps(body).encode()))

    client.meta.events.register(f"before-send.sesv2.{operation}", hook)
    return seen


def self_signed(tmp_path):
    """A self-signed CA+server certificate for 127.0.0.1 (cert path, key path)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def redis_answers(client) -> bool:
    """True once `client`'s server answers PING (for polling a server that is starting)."""
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def set_clock(runtime, when):
    """Move the scripts' "now" (Redis TIME + offset) to `when` (an aware datetime)."""
    offset = int(when.timestamp() * 1000) - (runtime.budget.now_ms() - int(runtime.client.get(runtime.budget.keys.clock_offset_ms) or 0))
    runtime.client.set(runtime.budget.keys.clock_offset_ms, offset)


def day_counters(runtime) -> dict[str, int]:
    """Today's counters that the unconfirmed-send invariant is about."""
    h = runtime.client.hgetall(runtime.budget.keys.day)
    return {f: int(h.get(f, 0)) for f in ("used", "sent", "unconfirmed", "dropped")}


def assert_counter_invariant(runtime) -> None:
    """With no SES call in flight: every recipient charged is sent, unconfirmed or dropped."""
    d = day_counters(runtime)
    assert d["used"] == d["sent"] + d["unconfirmed"] + d["dropped"], d
