"""Campaign content and recipients: templates rendered in a sandbox, merge fields escaped in HTML,
missing fields named, CSV rows read and checked, the fast address check held to the full one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ses_ramp.producers.addresses import ascii_address, list_address
from ses_ramp.producers.campaigns.content import CampaignContent, Templates, recipient_message
from ses_ramp.producers.campaigns.recipients import Recipient, chunk, chunk_wires, from_csv, recipient_from, unpack
from ses_ramp.producers.errors import InvalidMessage

CONTENT = {"from": "News <news@example.com>", "subject": "Hi {{ first_name }}", "text": "Hello {{ first_name }} ({{ email }})",
           "html": "<p>Hello {{ first_name }}</p>", "list": "news"}


def wire(merge: dict, address: str = "ann@example.com", name: str = "") -> dict:
    return {"id": "c-0", "campaign": "c", "content": "sha", "seq": 0, "to": [address], "name": name, "merge": merge, "engagement": 0.5}


def test_a_merge_field_is_escaped_in_html_and_kept_as_is_in_text():
    templates = Templates(CampaignContent.parse(CONTENT))
    out = templates.render("ann@example.com", None, {"first_name": "<b>Ann</b> & co"})
    assert out["html"] == "<p>Hello &lt;b&gt;Ann&lt;/b&gt; &amp; co</p>"
    assert out["text"] == "Hello <b>Ann</b> & co (ann@example.com)"
    assert out["subject"] == "Hi <b>Ann</b> & co"


def test_a_template_cannot_reach_python_objects():
    templates = Templates(CampaignContent.parse({**CONTENT, "text": "{{ first_name.__class__.__mro__[1].__subclasses__() }}"}))
    with pytest.raises(InvalidMessage, match="text: cannot render"):
        templates.render("ann@example.com", None, {"first_name": "Ann"})


def test_the_fields_a_template_uses_are_known_and_a_recipient_without_one_is_named():
    templates = Templates(CampaignContent.parse({**CONTENT, "html": "<p>{{ first_name }} {% if vip %}VIP{% endif %}</p>"}))
    assert templates.fields == {"first_name", "vip"}  # email and name are always given
    assert templates.missing({"first_name": "Ann"}) == ["vip"]
    assert templates.missing({"first_name": "Ann", "vip": ""}) == []


def test_a_line_break_from_a_merge_field_cannot_split_the_subject_header():
    templates = Templates(CampaignContent.parse(CONTENT))
    assert templates.render("a@example.com", None, {"first_name": "Ann\r\nBcc: x@evil.example"})["subject"] == \
        "Hi Ann Bcc: x@evil.example"


def test_a_recipient_message_is_the_whole_message_with_its_own_idempotency_key():
    content = CampaignContent.parse({**CONTENT, "from": "news@example.com", "from_name": "News"})
    message = recipient_message(Templates(content), wire({"first_name": "Ann"}, name="Ann Lee"))
    assert message.to == ["ann@example.com"] and message.names == {"ann@example.com": "Ann Lee"}
    assert message.subject == "Hi Ann" and message.list_id == "news" and message.kind.value == "bulk"
    assert message.idempotency_key == "campaign:c:0" and message.formatted_from() == "News <news@example.com>"


def test_a_syntax_error_is_refused_naming_its_field():
    with pytest.raises(InvalidMessage, match="subject: template error"):
        Templates(CampaignContent.parse({**CONTENT, "subject": "Hi {{ first_name"}))


def test_recipient_rows_are_checked_and_pack_small():
    r = recipient_from({"email": " Ann@EXAMPLE.com ", "name": "Ann", "engagement": "0.9", "first_name": "Ann", "n": 3}, "row 1")
    assert r == Recipient("Ann@example.com", "Ann", 0.9, {"first_name": "Ann", "n": 3})
    assert unpack(r.pack()) == r and len(r.pack()) < 70
    for bad, why in (({"first_name": "x"}, "no address"), ({"email": "x@example.com", "engagement": 2}, "outside 0..1"),
                     ({"email": "x@example.com", "tags": ["a"]}, "merge field 'tags'"), ({"email": "nope"}, "invalid address")):
        with pytest.raises(InvalidMessage, match=why):
            recipient_from(bad, "row 2")


def test_a_csv_needs_an_email_column_and_a_bad_row_is_named_by_its_line(tmp_path):
    good = tmp_path / "r.csv"
    good.write_text("email,name,first_name\nann@example.com,Ann Lee,Ann\nbob@example.com,,Bob\n")
    assert [r.address for r in from_csv(good)] == ["ann@example.com", "bob@example.com"]
    no_column = tmp_path / "n.csv"
    no_column.write_text("mail,first_name\nann@example.com,Ann\n")
    with pytest.raises(InvalidMessage, match="needs an email column"):
        list(from_csv(no_column))
    bad_row = tmp_path / "b.csv"
    bad_row.write_text("email,first_name\nann@example.com,Ann\nnot-an-address,Bob\n")
    with pytest.raises(InvalidMessage, match=r"b.csv line 3: invalid address"):
        list(from_csv(bad_row))


def test_a_chunk_holds_consecutive_recipients_and_gives_each_its_own_message():
    rows = [Recipient(f"r{i}@example.com", "", 0.5, {"first_name": f"R{i}"}) for i in range(3)]
    wires = chunk_wires(chunk("camp", "sha", "bulk", 40, "2026-11-28T00:00:00+00:00", rows))
    assert [(w["id"], w["seq"], w["to"], w["merge"]) for w in wires] == [
        (f"camp-{40 + i}", 40 + i, [f"r{i}@example.com"], {"first_name": f"R{i}"}) for i in range(3)]


local = st.text(alphabet=st.sampled_from("abcXYZ019.!#$%&'*+/=?^_`{|}~-\"(),:;<>@[\\] é"), min_size=0, max_size=12)
domain = st.sampled_from(["example.com", "EXAMPLE.org", "bücher.de", "-bad.com", "localhost", "x", "a..b.com", "123.com", "test",
                          "sub.example.co.uk", "xn--bcher-kva.de", "ex_ample.com"])


@given(local=local, domain=domain)
@hsettings(max_examples=400, deadline=None, derandomize=True)
def test_the_fast_list_address_check_gives_the_full_checks_answer(local, domain):
    value = f"{local}@{domain}"
    try:
        expected = ascii_address(value)
    except ValueError:
        expected = None
    try:
        got = list_address(value)
    except ValueError:
        got = None
    assert got == expected
