"""Gmail's Feedback-ID on every message: `campaign:list:kind:SenderId`, fields safe for the header."""

from ses_ramp.producers.feedback import campaign_of, feedback_id, has_own
from ses_ramp.producers.message import Message


def message(**over):
    base = {"to": ["a@example.com"], "subject": "s", "text": "t", "kind": "transactional"}
    return Message.parse({**base, **over})


def test_a_whole_transactional_message_is_direct_without_a_list():
    assert feedback_id(message(), "shop") == "direct:nolist:transactional:shop"


def test_bulk_names_its_list_and_a_campaign_recipient_its_campaign():
    bulk = message(kind="bulk", list="weekly")
    assert feedback_id(bulk, "shop") == "direct:weekly:bulk:shop"
    recipient = message(kind="bulk", list="weekly", idempotency_key="campaign:spring-news:17")
    assert campaign_of(recipient) == "spring-news"
    assert feedback_id(recipient, "shop") == "spring-news:weekly:bulk:shop"


def test_a_field_never_holds_the_separator_and_every_value_has_four_fields():
    odd = message(kind="bulk", list="news.letter", idempotency_key="my:key")  # not a campaign key
    value = feedback_id(odd, "shop")
    assert value == "direct:news.letter:bulk:shop" and len(value.split(":")) == 4


def test_an_apps_own_feedback_id_is_kept():
    assert has_own(message(headers={"Feedback-ID": "x:y:z:them"}))
    assert not has_own(message())
