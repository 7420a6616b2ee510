"""RFC 8058 one-click unsubscribe, as producers see it: tokens, headers, and what bulk mail must carry."""

from __future__ import annotations

import email
from email import policy

import fakeredis
import pytest

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers import InvalidMessage, Message, Producer, Unsubscribed
from ses_ramp.producers.mime import build_mime
from ses_ramp.producers.unsubscribe import BadToken, headers_for, make_token, read_token
from ses_ramp.worker.ops.embedded import free_port

SECRET = "unit-test-secret-0123456789"


def settings(**over) -> Settings:
    base = {"_env_file": None, "redis_url": f"redis://127.0.0.1:{free_port()}/0", "from_address": "news@acme.example",
            "unsubscribe_base_url": "https://mail.acme.example", "unsubscribe_secret": SECRET}
    return Settings(**{**base, **over})


@pytest.fixture
def producer():
    p = Producer(settings())
    p._redis = fakeredis.FakeRedis(decode_responses=True)
    yield p
    p.close()


def bulk(**over):
    return {"to": ["Reader@Example.com"], "subject": "Weekly", "text": "hello", "kind": "bulk", "list": "weekly", **over}


def test_token_names_recipient_and_list_and_refuses_tampering_forgery_and_age():
    token = make_token(SECRET, "Reader@EXAMPLE.com", "weekly")
    assert read_token(SECRET, token, 3600) == ("reader@example.com", "weekly")
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (tampered, make_token("another-secret-0123456789", "r@example.com", "weekly"), "garbage", ""):
        with pytest.raises(BadToken):
            read_token(SECRET, bad, 3600)
    with pytest.raises(BadToken):
        read_token(SECRET, token, -1)  # older than a max age it cannot meet: expired


def test_bulk_with_a_list_carries_the_rfc8058_pair_and_list_id(producer):
    m = producer.prepare(bulk())
    headers = headers_for(producer.settings, m)
    raw = build_mime(m, m.formatted_from(), headers)
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["List-Id"] == "<weekly.acme.example>"
    url = parsed["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://mail.acme.example/u/")
    assert read_token(SECRET, url.rsplit("/", 1)[1], 3600) == ("reader@example.com", "weekly")


def test_mailto_route_when_configured(producer):
    s = settings(unsubscribe_mailto="unsubscribe@acme.example")
    value = headers_for(s, Message.parse({**bulk(), "from": "news@acme.example"}))["List-Unsubscribe"]
    assert value.startswith("<https://") and ", <mailto:unsubscribe@acme.example?subject=unsubscribe%20" in value


def test_transactional_mail_carries_none(producer):
    m = producer.prepare({"to": ["a@example.com"], "subject": "Receipt", "text": "x"})
    assert headers_for(producer.settings, m) == {}
    with pytest.raises(InvalidMessage, match="only bulk mail belongs to a list"):
        producer.prepare({"to": ["a@example.com"], "subject": "Receipt", "text": "x", "list": "weekly"})


@pytest.mark.parametrize("over, why", [
    ({"list": None}, "bulk mail needs a list"),
    ({"to": ["a@example.com", "b@example.com"]}, "exactly one recipient"),
    ({"cc": ["c@example.com"]}, "exactly one recipient"),
])
def test_bulk_without_a_route_is_refused(producer, over, why):
    with pytest.raises(InvalidMessage, match=why):
        producer.prepare(bulk(**over))


def test_bulk_refused_when_the_service_is_not_configured():
    p = Producer(settings(unsubscribe_base_url=None))
    p._redis = fakeredis.FakeRedis(decode_responses=True)
    with pytest.raises(InvalidMessage, match="RAMP_UNSUBSCRIBE_BASE_URL"):
        p.prepare(bulk())


def test_apps_own_headers_or_ses_list_management_are_accepted(producer):
    own = {"List-Unsubscribe": "<https://app.example/u/1>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    m = producer.prepare(bulk(list=None, to=["a@example.com", "b@example.com"], headers=own))
    assert headers_for(producer.settings, m) == {}
    ses = producer.prepare(bulk(list=None, list_management={"contact_list": "Newsletter", "topic": "weekly"}))
    assert headers_for(producer.settings, ses) == {}


def test_unsubscribed_from_one_list_refuses_that_list_only(producer):
    producer._redis.sadd(Keys(producer.settings.key_prefix).unsubscribed("weekly"), "reader@example.com")
    with pytest.raises(Unsubscribed) as info:
        producer.prepare(bulk())
    assert info.value.list_id == "weekly" and info.value.field == "to"
    producer.prepare(bulk(list="offers"))
    producer.prepare({"to": ["Reader@Example.com"], "subject": "Receipt", "text": "x"})  # transactional still goes


def test_an_unsubscribe_holds_whatever_the_case_of_the_local_part(producer):
    from ses_ramp.producers.message import normalise_address

    producer._redis.sadd(Keys(producer.settings.key_prefix).unsubscribed("weekly"), normalise_address("ana@example.com"))
    for spelled in ("Ana@example.com", "ANA@EXAMPLE.COM", " ana@Example.com"):
        with pytest.raises(Unsubscribed):
            producer.prepare({**bulk(), "to": [spelled]})
