"""Display names in any script and internationalised domains, from what an app gives to the MIME SES gets."""

from __future__ import annotations

import email
from email import policy

import fakeredis
import pytest

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers import InvalidMessage, Producer, SuppressedRecipient
from ses_ramp.producers.mime import build_mime
from ses_ramp.worker.ops.embedded import free_port


@pytest.fixture
def producer():
    p = Producer(Settings(_env_file=None, redis_url=f"redis://127.0.0.1:{free_port()}/0", from_address="hello@acme.example",
                          from_name="Acme Støtte"))
    p._redis = fakeredis.FakeRedis(decode_responses=True)
    yield p
    p.close()


def parsed(producer, message) -> email.message.EmailMessage:
    return email.message_from_bytes(build_mime(message, message.formatted_from()), policy=policy.default)


@pytest.mark.parametrize("given", ["Zoë Ünal <zoe@example.com>", '"Zoë Ünal" <zoe@example.com>', {"name": "Zoë Ünal", "address": "zoe@example.com"}])
def test_display_names_in_both_forms(producer, given):
    m = producer.prepare({"to": [given], "subject": "s", "text": "t"})
    assert m.to == ["zoe@example.com"] and m.names == {"zoe@example.com": "Zoë Ünal"}
    mime = parsed(producer, m)
    assert mime["To"].addresses[0].display_name == "Zoë Ünal" and mime["To"].addresses[0].addr_spec == "zoe@example.com"
    raw = build_mime(m, m.formatted_from())
    assert raw.isascii() and b"=?utf-8?" in raw  # RFC 2047 on the wire


def test_from_name_in_any_script_and_the_default(producer):
    m = producer.prepare({"to": ["a@example.com"], "subject": "s", "text": "t", "from": "Ακμή 客服 <desk@acme.example>"})
    assert m.from_address == "desk@acme.example" and parsed(producer, m)["From"].addresses[0].display_name == "Ακμή 客服"
    default = producer.prepare({"to": ["a@example.com"], "subject": "s", "text": "t"})
    assert parsed(producer, default)["From"].addresses[0].display_name == "Acme Støtte"


def test_suppression_and_the_recipient_count_use_the_bare_address(producer):
    producer._redis.sadd(Keys(producer.settings.key_prefix).suppressed, "gone@example.com")
    with pytest.raises(SuppressedRecipient):
        producer.prepare({"to": ["Someone Gone <gone@EXAMPLE.com>"], "subject": "s", "text": "t"})
    m = producer.prepare({"to": ["A <a@example.com>", {"name": "B", "address": "b@example.com"}], "subject": "s", "text": "t"})
    assert m.recipient_count == 2 and m.recipients == ["a@example.com", "b@example.com"]


def test_an_internationalised_domain_goes_out_in_idna_form(producer):
    m = producer.prepare({"to": ["Jürgen <j@bücher.de>"], "cc": ["x@münchen.example"], "subject": "s", "text": "t"})
    assert m.to == ["j@xn--bcher-kva.de"] and m.cc == ["x@xn--mnchen-3ya.example"]
    assert parsed(producer, m)["To"].addresses[0].addr_spec == "j@xn--bcher-kva.de"


def test_a_non_ascii_local_part_is_refused_with_the_reason(producer):
    with pytest.raises(InvalidMessage) as info:
        producer.prepare({"to": ["josé@example.com"], "subject": "s", "text": "t"})
    assert info.value.field == "to" and "SMTPUTF8" in str(info.value)


@pytest.mark.parametrize("given, field", [
    ({"name": "x", "address": "not-an-address"}, "to"),
    ({"name": "x"}, "to"),
    ({"name": "x", "address": "a@example.com", "extra": 1}, "to"),
    ("Evil\r\nBcc: x <a@example.com>", "to"),
    ("Name <>", "to"),
])
def test_bad_address_forms_name_the_field(producer, given, field):
    with pytest.raises(InvalidMessage) as info:
        producer.prepare({"to": [given], "subject": "s", "text": "t"})
    assert info.value.field == field


def test_the_wire_keeps_names_and_round_trips(producer):
    from ses_ramp.producers.message import Message

    m = producer.prepare({"to": ["Zoë <zoe@example.com>"], "reply_to": ["Desk <desk@acme.example>"], "subject": "s", "text": "t"})
    again = Message.from_wire(m.to_wire())
    assert again == m and again.formatted("desk@acme.example") == "Desk <desk@acme.example>"
