"""Every refusal of the producer, before anything reaches a queue."""

import fakeredis
import pytest

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers import InvalidMessage, Message, Producer, QueueUnavailable, SuppressedRecipient
from ses_ramp.worker.ops.embedded import free_port


def ok(**over):
    base = {"to": ["a@example.com"], "subject": "hi", "text": "body", "kind": "transactional"}
    base.update(over)
    return base


@pytest.fixture
def producer():
    port = free_port()  # nothing listens: any publish would fail loudly
    p = Producer(Settings(_env_file=None, redis_url=f"redis://:pw@127.0.0.1:{port}/0", from_address="s@example.com", max_message_bytes=5000,
                          unsubscribe_base_url="https://mail.example.test", unsubscribe_secret="unit-test-secret-0123456789"))
    p._redis = fakeredis.FakeRedis(decode_responses=True)
    yield p
    p.close()


@pytest.mark.parametrize(
    "over, field",
    [
        ({"to": ["not-an-address"]}, "to"),
        ({"cc": ["a@@example.com"]}, "cc"),
        ({"text": None}, "body"),
        ({"to": [f"u{i}@example.com" for i in range(30)], "bcc": [f"b{i}@example.com" for i in range(21)]}, "to"),
        ({"kind": "marketing"}, "kind"),
        ({"engagement": 1.5}, "engagement"),
        ({"engagement": -0.1}, "engagement"),
        ({"subject": ""}, "subject"),
        ({"headers": {"X-Evil": "a\r\nBcc: x@example.com"}}, "headers"),
        ({"tags": {"bad tag": "x"}}, "tags"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_input_names_the_field(producer, over, field):
    with pytest.raises(InvalidMessage) as info:
        producer.prepare(ok(**over))
    assert info.value.field == field, str(info.value)


def test_size_is_measured_on_the_mime_message(producer):
    # 3,000 characters of text fit under 5,000 bytes raw, but the html copy pushes the MIME over.
    producer.prepare(ok(text="x" * 3000))
    with pytest.raises(InvalidMessage) as info:
        producer.prepare(ok(text="x" * 3000, html="<p>" + "y" * 3000 + "</p>"))
    assert info.value.field == "size" and "RAMP_MAX_MESSAGE_BYTES" in str(info.value)


def test_no_from_anywhere_is_refused():
    p = Producer(Settings(_env_file=None))
    with pytest.raises(InvalidMessage, match="RAMP_FROM_ADDRESS"):
        p.prepare(ok())


def test_suppressed_recipient_refused_or_dropped(producer):
    keys = Keys(producer.settings.key_prefix)
    producer._redis.sadd(keys.suppressed, "gone@example.com")
    with pytest.raises(SuppressedRecipient) as info:
        producer.prepare(ok(to=["  gone@EXAMPLE.com ", "b@example.com"]))
    assert info.value.addresses == ["gone@example.com"]
    dropping = Producer(producer.settings.model_copy(update={"drop_suppressed_recipients": True}))
    dropping._redis = producer._redis  # the same suppression list
    assert dropping.prepare(ok(to=["gone@example.com", "b@example.com"])).to == ["b@example.com"]
    dropping.close()


def test_unreachable_broker_is_queue_unavailable_with_masked_url(producer):
    with pytest.raises(QueueUnavailable) as info:
        producer.enqueue(ok())
    assert "127.0.0.1" in str(info.value) and ":***@" in str(info.value) and ":pw@" not in str(info.value)


def test_enqueue_many_refuses_the_whole_batch_when_one_is_invalid(producer):
    with pytest.raises(InvalidMessage):
        producer.enqueue_many([ok(), ok(to=["nope"])])


def test_idempotency_key_defaults_to_id_and_wire_roundtrips():
    m = Message.parse(ok(**{"from": "s@example.com"}))
    assert m.idempotency_key == m.id
    again = Message.parse(m.to_wire())
    assert again == m


def test_mime_is_crlf_short_lined_and_round_trips():
    import email
    from email import policy

    from ses_ramp.producers.mime import build_mime, size_upper_bound

    m = Message.parse(ok(**{
        "from": "s@example.com", "to": [f"u{i}@example.com" for i in range(45)], "subject": "Grüße",
        "text": "plain ü " * 40, "html": "<p>" + "x" * 5000 + "</p>", "headers": {"X-Ref": "é1"},
    }))
    raw = build_mime(m, "s@example.com")
    assert b"\n" not in raw.replace(b"\r\n", b"") and max(map(len, raw.split(b"\r\n"))) <= 998
    assert len(raw) <= size_upper_bound(m)
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Grüße" and parsed["X-Ref"] == "é1" and len(parsed["To"].addresses) == 45
    assert "Bcc" not in parsed
    parts = {p.get_content_type(): p.get_content() for p in parsed.walk() if not p.is_multipart()}
    assert parts["text/plain"].startswith("plain ü") and parts["text/html"] == "<p>" + "x" * 5000 + "</p>"


def test_a_worker_ignores_unknown_fields_at_every_level_while_an_app_is_refused_them():
    wire = Message.parse(ok(kind="bulk", list="news", list_management={"contact_list": "news"})).to_wire()
    wire["future_top"] = 1
    wire["list_management"]["future_nested"] = {"deep": True}
    read = Message.from_wire(wire)
    assert read.list_management is not None and read.list_management.contact_list == "news"
    with pytest.raises(InvalidMessage):
        Message.parse(ok(kind="bulk", list="news", list_management={"contact_list": "news", "future_nested": 1}))


@pytest.mark.parametrize("field, value", [
    ("subject", "Hello\r\nBcc: victim@example.net"), ("subject", "Hello\nX-Evil: 1"), ("subject", "nul\0here"),
    ("headers", {"X-Ref": "a\0b"}), ("headers", {"X-Ref": "a\r\nBcc: x@example.net"}), ("from_name", "Shop\nBcc: x@example.net"),
])
def test_cr_lf_and_nul_are_refused_in_every_header_value(field, value):
    with pytest.raises(InvalidMessage, match="line break|break the MIME"):
        Message.parse(ok(**{field: value}))


def test_a_998_character_subject_is_folded_under_the_line_limit_and_reads_back_whole():
    import email
    from email import policy

    from ses_ramp.producers.mime import build_mime, size_upper_bound

    subject = ("word " * 200)[:998]
    m = Message.parse(ok(subject=subject, headers={"X-Long": "y" * 990}))
    raw = build_mime(m, "s@example.com")
    assert max(map(len, raw.split(b"\r\n"))) <= 998 and len(raw) <= size_upper_bound(m)
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == subject and parsed["X-Long"] == "y" * 990


def test_message_id_takes_the_domain_of_a_from_with_a_display_name():
    import email

    from ses_ramp.producers.mime import build_mime

    raw = build_mime(Message.parse(ok()), "Shop News <news@shop.example>")
    mid = email.message_from_bytes(raw)["Message-ID"]
    assert mid.endswith("@shop.example>") and ">>" not in mid
