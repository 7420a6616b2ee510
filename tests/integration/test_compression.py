"""Large bodies travel zlib-compressed (Celery's own message compression); a real worker sends them
intact. Small ones are left as they are."""

import email
import json

from ses_ramp.config.keys import Keys
from ses_ramp.producers import Producer
from ses_ramp.producers.wire import PRIORITY_STEPS
from tests.helpers import accepted_by_moto, wait_for

HTML = "<html><body>" + "".join(f"<p>Paragraph {i}: news about our products, offers and events.</p>" for i in range(40)) + "</body></html>"


def queued(redis_client, prefix: str) -> list[dict]:
    names = Keys(prefix).queue_lists("transactional", PRIORITY_STEPS)
    return [json.loads(raw) for name in names for raw in redis_client.lrange(name, 0, -1)]


def test_a_large_body_is_queued_compressed_and_arrives_whole(settings, moto_ses, workers, redis_client):
    p = Producer(settings)
    try:
        big = p.enqueue({"to": ["big@example.com"], "subject": "big", "html": HTML, "text": "plain"})
        small = p.enqueue({"to": ["small@example.com"], "subject": "small", "text": "hello"})
    finally:
        p.close()
    envelopes = queued(redis_client, settings.key_prefix)
    by_id = {e["headers"]["id"]: e for e in envelopes}
    assert by_id[big.id]["headers"].get("compression") == "application/x-gzip"
    assert "compression" not in by_id[small.id]["headers"]
    assert len(by_id[big.id]["body"]) < len(HTML) / 2  # base64 of the compressed body: much less than the HTML alone
    workers(1)
    sent = wait_for(lambda: len(accepted_by_moto(moto_ses, {big.id, small.id})) == 2 and accepted_by_moto(moto_ses, {big.id}),
                    60, what="both messages at SES")
    mime = email.message_from_string(sent[0].raw_data)
    html = next(part for part in mime.walk() if part.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert html == HTML
