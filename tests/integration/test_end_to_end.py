"""A message from an app process (importing only producers) to moto's SES server via a real worker."""

import json
import subprocess
import sys

import pytest

from ses_ramp.producers import Producer, QueueUnavailable
from tests.helpers import accepted_by_moto, recorded_send_requests, reset_recording, settings_env, wait_for

APP = r"""
import json, sys
from ses_ramp.producers import enqueue
receipt = enqueue({
    "to": ["reader@example.com"], "cc": ["boss@example.com"], "subject": "Password reset SUBJ",
    "text": "Your code is 123456", "html": "<p>Your code is <b>123456</b></p>",
    "kind": "transactional", "engagement": 0.9, "tags": {"campaign": "resets"},
    "headers": {"X-Entity-Ref-ID": "abc"},
})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"boto3", "botocore", "moto"} or m.startswith("ses_ramp.worker"))
print(json.dumps({"id": receipt.id, "heavy": heavy}))
"""


def test_message_from_separate_producer_process_reaches_ses_with_config_set_and_tags(settings, moto_ses, workers, redis_client):
    reset_recording(moto_ses)
    subject = f"Password reset {settings.key_prefix}"
    env = {**settings_env(settings), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", APP.replace("SUBJ", settings.key_prefix)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["heavy"] == [], "producers must not import boto3 or worker code"

    workers(1)
    sent = wait_for(lambda: accepted_by_moto(moto_ses, {result["id"]}), 60, what="moto to accept the message")
    assert len(sent) == 1
    mime = __import__("email").message_from_string(sent[0].raw_data)
    assert mime["Subject"] == subject and mime["To"] == "reader@example.com" and mime["Cc"] == "boss@example.com"
    assert mime["X-Entity-Ref-ID"] == "abc"
    assert mime["Feedback-ID"] == "direct:nolist:transactional:ses-ramp"  # Gmail's a:b:c:SenderId (producers/feedback.py)
    bodies = {part.get_content_type(): part.get_payload(decode=True).decode() for part in mime.walk() if not part.is_multipart()}
    assert "123456" in bodies["text/plain"] and "<b>123456</b>" in bodies["text/html"]

    [request] = [r for r in recorded_send_requests(moto_ses) if r["mime"]["X-Ses-Ramp-Id"] == result["id"]]
    assert request["ConfigurationSetName"] == "ses-ramp"
    tags = {t["Name"]: t["Value"] for t in request["EmailTags"]}
    assert tags == {"kind": "transactional", "message_id": result["id"], "campaign": "resets"}
    assert request["Destination"] == {"ToAddresses": ["reader@example.com"], "CcAddresses": ["boss@example.com"]}


def test_enqueue_many_reports_exactly_what_was_published_when_redis_dies(settings, tmp_path):
    from ses_ramp.config.keys import Keys
    from ses_ramp.producers.wire import PRIORITY_STEPS
    from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port

    server = EmbeddedRedis(free_port(), tmp_path, persist=False).start()
    s = settings.model_copy(update={"redis_url": server.url})
    producer = Producer(s)
    calls = {"n": 0}
    original = producer._publish
    on_queue_before_kill = {}

    def publish_then_die(message, producer):
        calls["n"] += 1
        if calls["n"] == 501:  # first message of the second pipelined chunk
            import redis

            c = redis.Redis.from_url(server.url)
            on_queue_before_kill["n"] = sum(c.llen(k) for k in Keys(s.key_prefix).queue_lists("bulk", PRIORITY_STEPS))
            server.kill()
        return original(message, producer)

    producer._publish = publish_then_die
    messages = [{"to": [f"u{i}@example.com"], "subject": f"s{i}", "text": "t", "kind": "bulk", "list": "news"} for i in range(1200)]
    try:
        with pytest.raises(QueueUnavailable) as info:
            producer.enqueue_many(messages)
    finally:
        producer.close()
        server.stop()
    err = info.value
    assert len(err.published) == 500 == on_queue_before_kill["n"]
    assert len(err.unconfirmed) == 700 and not set(err.published) & set(err.unconfirmed)
