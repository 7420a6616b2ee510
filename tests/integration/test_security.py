"""Redis AUTH and rediss:// (TLS) for real, no secrets or addresses in logs, JSON-only messages."""

import base64
import json
import os
import shutil
import subprocess

import pytest
import redis

from ses_ramp.producers import Producer
from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port
from tests.helpers import accepted_by_moto, redis_answers, self_signed, wait_for

PASSWORD = "s3cret-Redis-pw"


def test_redis_with_requirepass_end_to_end_and_nothing_secret_in_logs(settings, moto_ses, workers, tmp_path):
    server = EmbeddedRedis(free_port(), tmp_path / "r", persist=False, password=PASSWORD).start()
    try:
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=server.port).ping()  # the server really demands the password
        s = settings.model_copy(update={"redis_url": server.url})
        pool = workers(count=1, concurrency=1, s=s)
        p = Producer(s)
        r = p.enqueue({"to": ["private.person@example.org"], "subject": "Your code", "text": "code 991122", "kind": "transactional"})
        p.close()
        wait_for(lambda: accepted_by_moto(moto_ses, {r.id}), 60, what="the send through an AUTH Redis")
        pool.stop()
        logs = pool.logs()
        assert r.id in logs  # the outcome line is there...
        for secret in (PASSWORD, "private.person@example.org", "991122"):
            assert secret not in logs, f"{secret!r} leaked into the worker log"
    finally:
        server.stop()


def test_rediss_tls_end_to_end(settings, moto_ses, workers, tmp_path):
    cert, key = self_signed(tmp_path)
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert),
                             "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", "--save", "",
                             "--requirepass", PASSWORD, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={cert}"
        client = redis.Redis.from_url(url)
        wait_for(lambda: redis_answers(client), 10, what="TLS redis")
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=port, password=PASSWORD, socket_connect_timeout=1, socket_timeout=1).ping()  # plaintext refused
        s = settings.model_copy(update={"redis_url": url})
        workers(count=1, concurrency=1, s=s)
        p = Producer(s)
        r = p.enqueue({"to": ["tls@example.com"], "subject": "over TLS", "text": "x", "kind": "transactional"})
        p.close()
        wait_for(lambda: accepted_by_moto(moto_ses, {r.id}), 60, what="the send through a TLS Redis")
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_pickled_payload_is_refused_and_not_executed(settings, workers, runtime, tmp_path):
    """A message with content-type pickle is put straight on the queue: the worker must refuse to
    deserialize it (JSON only), so the code inside never runs."""
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    body = base64.b64encode(pickle.dumps(((Exploit(),), {}, {}))).decode()
    envelope = {
        "body": body, "content-encoding": "binary", "content-type": "application/x-python-serialize",
        "headers": {"lang": "py", "task": "ses_ramp.send", "id": "pickle-1", "root_id": "pickle-1", "parent_id": None, "group": None,
                    "retries": 0, "eta": None, "expires": None, "argsrepr": "", "kwargsrepr": "", "origin": "attacker"},
        "properties": {"correlation_id": "pickle-1", "reply_to": "", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "bulk"},
                       "priority": 9, "body_encoding": "base64", "delivery_tag": "t-pickle-1"},
    }
    queue = runtime.budget.keys.queue_lists("bulk", list(range(10)))[-1]
    runtime.client.lpush(queue, json.dumps(envelope))
    pool = workers(count=1, concurrency=1)
    wait_for(lambda: "application/x-python-serialize" in pool.logs() or "ContentDisallowed" in pool.logs(), 30, 0.2,
             "the worker to refuse the pickle")
    assert not marker.exists()
