"""A property, against moto's SES server: every message the validator accepts (display names in any
script, internationalised domains, RFC 2047 subjects) renders to MIME and is accepted by the SES
transport. What the validator refuses is refused with a field, never by SES later."""

from __future__ import annotations

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ses_ramp.producers import InvalidMessage, Producer
from ses_ramp.worker.send.transports.ses_api import SesApiTransport

DOMAINS = ["example.com", "bücher.de", "例え.jp", "münchen.example", "xn--bcher-kva.de", "EXAMPLE.org"]
local_parts = st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,20}\Z"), st.text(min_size=1, max_size=8))
addresses = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, st.sampled_from(DOMAINS))
names = st.text(min_size=1, max_size=40)
one = st.one_of(
    addresses,
    st.builds(lambda n, a: f"{n} <{a}>", names, addresses),
    st.builds(lambda n, a: f'"{n}" <{a}>', names, addresses),
    st.builds(lambda n, a: {"name": n, "address": a}, names, addresses),
)
messages = st.fixed_dictionaries({
    "to": st.lists(one, min_size=1, max_size=3),
    "subject": st.text(min_size=1, max_size=120),
    "text": st.text(max_size=300),
}, optional={"cc": st.lists(one, max_size=2), "reply_to": st.lists(one, max_size=1), "from_name": names})


def test_every_accepted_message_renders_and_ses_accepts_it(settings, moto_ses):
    producer = Producer(settings)
    transport = SesApiTransport(settings)
    tally = {"accepted": 0, "refused": 0}

    @given(data=messages)
    @hsettings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def check(data) -> None:
        try:
            message = producer.prepare(data)
        except InvalidMessage as exc:
            assert exc.field in {"to", "cc", "reply_to", "subject", "from_name", "names", "body"}, exc
            tally["refused"] += 1
            return
        ses_id = transport.send(message, claim=lambda: None)
        assert ses_id
        tally["accepted"] += 1

    try:
        check()
    finally:
        producer.close()
    assert tally["accepted"] >= 30, tally  # the property was exercised, not vacuous
