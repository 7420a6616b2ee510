"""Campaigns: content stored once, recipients packed, fed to the queues just ahead of the gate,
rendered by the worker, and the content kept exactly as long as a message may still need it."""

from __future__ import annotations

import base64
import email
import json
import time
import zlib
from collections import Counter
from email.header import decode_header, make_header

import pytest

from ses_ramp.config.keys import Keys
from ses_ramp.producers import InvalidMessage, Producer
from ses_ramp.producers.campaigns import idempotency_key
from ses_ramp.producers.campaigns.recipients import chunk_wires
from ses_ramp.producers.wire import CAMPAIGN_CHUNK_TASK, PRIORITY_STEPS
from ses_ramp.worker.fleet.feeder import Feeder
from tests.helpers import accepted_by_moto, ramp, ramp_id, wait_for

BIG = {"warmup_start_per_day": 1_000_000, "warmup_target_per_day": 1_000_000}
CONTENT = {
    "subject": "News for {{ first_name }}",
    "text": "Hello {{ first_name }}, your code is {{ code }}.",
    "html": "<p>Hello {{ first_name }}, your code is <b>{{ code }}</b>.</p>" + "<p>" + "News. " * 450 + "</p>",
    "list": "news",
}


def people(n: int, start: int = 0) -> list[dict]:
    return [{"email": f"reader{i}@example.com", "first_name": f"Reader{i}", "code": f"C{i:06d}", "engagement": (i % 10) / 10}
            for i in range(start, start + n)]


def task_of(raw) -> tuple[str, dict]:
    """(task name, first argument) of one queued Celery message."""
    envelope = json.loads(raw)
    body = base64.b64decode(envelope["body"])
    if envelope["headers"].get("compression"):
        body = zlib.decompress(body)
    return envelope["headers"]["task"], json.loads(body)[0][0]


def queued_wires(client, prefix: str) -> list[dict]:
    """Every campaign recipient's message in the bulk queue lists (chunks taken apart)."""
    out = []
    for name in Keys(prefix).queue_lists("bulk", PRIORITY_STEPS):
        for raw in client.lrange(name, 0, -1):
            task, arg = task_of(raw)
            out.extend(chunk_wires(arg) if task == CAMPAIGN_CHUNK_TASK else [arg])
    return out


def drain(runtime, prefix: str) -> Counter:
    """Pop every queued campaign task and hand it to the sender, as a worker would."""
    outcomes: Counter = Counter()
    for name in Keys(prefix).queue_lists("bulk", PRIORITY_STEPS):
        while (raw := runtime.client.rpop(name)) is not None:
            task, arg = task_of(raw)
            assert task == CAMPAIGN_CHUNK_TASK
            outcomes.update(o.outcome for o in runtime.sender.handle_campaign_chunk(arg))
    return outcomes


def runtime_for(s):
    from ses_ramp.worker.send.runtime import Runtime
    from ses_ramp.worker.send.transports.noop import NoopTransport

    return Runtime.build(s, transport=NoopTransport())


def campaign_keys(settings, receipt) -> list[str]:
    k = Keys(settings.key_prefix)
    return [k.content(receipt.content), k.campaign_rcpts(receipt.campaign_id)]


def test_a_campaign_ten_feed_windows_long_sends_each_recipient_its_own_message_once_and_its_content_expires(
        settings, moto_ses, workers, redis_client):
    """2,000 recipients through a feed window of 200: the feeder refills ten times while two workers drain.
    (The 20,000- and million-recipient figures are the bench's: `python -m bench --only campaign`.)"""
    s = settings.model_copy(update={**BIG, "rate_per_s": 5000, "rate_burst": 500, "campaign_feed_window": 200,
                                    "visibility_timeout_s": 5})
    n = 2_000
    before = redis_client.info("memory")["used_memory"]
    producer = Producer(s)
    try:
        receipt = producer.enqueue_campaign(CONTENT, people(n))
    finally:
        producer.close()
    assert receipt.recipients == n
    stored = sum(redis_client.memory_usage(key, samples=0) or 0 for key in campaign_keys(s, receipt))
    after_enqueue = redis_client.info("memory")["used_memory"]
    print(f"\nRedis: {stored / n:.0f} B per queued recipient (content + packed list); used_memory "
          f"{before:,} -> {after_enqueue:,} after enqueue", end=" ")
    assert stored / n <= 400
    workers(2, concurrency=4, s=s.model_copy(update={"log_level": "WARNING"}))  # a log line per recipient costs a third of the drain
    keys = Keys(s.key_prefix)
    ids = {f"{receipt.campaign_id}-{i}" for i in range(n)}
    content = keys.content(receipt.content)
    started = time.monotonic()
    wait_for(lambda: int(redis_client.hget(keys.campaign(receipt.campaign_id), "settled") or 0) >= n, 300,
             what="every recipient settled")
    print(f"drained in {time.monotonic() - started:.0f} s", end=" ")
    # Released by the last recipient: no reference left, and an expiry of the grace (or already gone).
    assert redis_client.hget(content, "refs") in ("0", None)
    assert redis_client.pttl(content) in range(-2, 2 * s.visibility_timeout_s * 1000 + 1) and redis_client.pttl(content) != -1
    sent = accepted_by_moto(moto_ses, ids)
    by_id = Counter(ramp_id(x) for x in sent)
    assert len(by_id) == n and max(by_id.values()) == 1, "every recipient once"
    for raw in (x.raw_data for x in sent[:: max(1, n // 500)]):  # every 40th, rendered for its own recipient
        mime = email.message_from_string(raw)
        i = int(mime["To"].removeprefix("reader").removesuffix("@example.com"))
        assert str(make_header(decode_header(mime["Subject"]))) == f"News for Reader{i}"
        assert mime["Feedback-ID"] == f"{receipt.campaign_id}:news:bulk:ses-ramp"  # Postmaster sees the campaign apart
        text = next(p for p in mime.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
        assert f"your code is C{i:06d}" in text
    wait_for(lambda: not redis_client.exists(content), 2 * s.visibility_timeout_s + 10, what="the content key expired")
    assert not redis_client.exists(keys.campaign_rcpts(receipt.campaign_id))
    assert redis_client.zscore(keys.campaigns, receipt.campaign_id) is None
    print(f"-> {redis_client.info('memory')['used_memory']:,} once drained", end=" ")


def test_the_content_stays_while_any_recipient_needs_it_and_a_crashed_feed_sends_nobody_twice(settings, redis_client):
    s = settings.model_copy(update=BIG)
    runtime = runtime_for(s)
    producer = Producer(s)
    receipt = producer.enqueue_campaign(CONTENT, people(5))
    producer.close()
    keys = Keys(s.key_prefix)
    content, rcpts = keys.content(receipt.content), keys.campaign_rcpts(receipt.campaign_id)
    from ses_ramp.worker.app import create_app

    feeder = Feeder(s, redis_client, create_app(s), runtime.budget.now_ms)
    snapshot = redis_client.lrange(rcpts, 0, -1)
    assert feeder.run_once() == 5
    # A feeder that died after publishing, before trimming: the next one publishes the same recipients again.
    redis_client.rpush(rcpts, *snapshot)
    redis_client.hset(keys.campaign(receipt.campaign_id), "fed", 0)
    assert feeder.run_once() == 5
    wires = queued_wires(redis_client, s.key_prefix)
    assert len(wires) == 10 and {w["seq"] for w in wires} == set(range(5))
    assert redis_client.hget(content, "refs") == "5" and redis_client.pttl(content) == -1
    outcomes = drain(runtime, s.key_prefix)
    assert outcomes == Counter({"sent": 5, "duplicate": 5})
    assert redis_client.hget(keys.campaign(receipt.campaign_id), "settled") == "5"
    assert redis_client.hget(content, "refs") == "0"
    assert 0 < redis_client.pttl(content) <= 2 * s.visibility_timeout_s * 1000
    for i in range(5):
        assert redis_client.get(keys.idem(idempotency_key(receipt.campaign_id, i))).startswith("sent:")


def test_content_in_use_by_a_second_campaign_outlives_the_first(settings, redis_client):
    s = settings.model_copy(update=BIG)
    runtime = runtime_for(s)
    producer = Producer(s)
    first = producer.enqueue_campaign(CONTENT, people(2))
    second = producer.enqueue_campaign(CONTENT, people(2, start=2))
    producer.close()
    assert first.content == second.content
    keys = Keys(s.key_prefix)
    from ses_ramp.worker.app import create_app

    feeder = Feeder(s, redis_client, create_app(s), runtime.budget.now_ms)
    assert feeder.run_once() == 4
    wires = queued_wires(redis_client, s.key_prefix)
    for wire in wires:
        if wire["campaign"] == first.campaign_id:
            runtime.sender.handle_campaign(wire)
    assert redis_client.hget(keys.content(first.content), "refs") == "2"
    assert redis_client.pttl(keys.content(first.content)) == -1, "no expiry while the second campaign needs it"


def test_the_feeder_queues_no_more_than_the_window_and_todays_bulk_budget(settings, redis_client):
    s = settings.model_copy(update={"warmup_start_per_day": 120, "campaign_feed_window": 50})
    producer = Producer(s)
    receipt = producer.enqueue_campaign(CONTENT, people(400))
    producer.close()
    from ses_ramp.worker.app import create_app

    runtime = runtime_for(s)
    runtime.budget.roll_day()
    status = runtime.budget.status()
    bulk_room = status["cap"] - status["transactional_reserve"]  # bulk never takes the transactional reserve
    assert 50 < bulk_room < 120
    feeder = Feeder(s, redis_client, create_app(s), runtime.budget.now_ms)
    assert feeder.run_once() == 50
    assert feeder.run_once() == 0, "the window is full"
    assert drain(runtime, s.key_prefix) == Counter({"sent": 50})
    assert feeder.run_once() == bulk_room - 50, "then only what today's bulk budget still takes"
    assert drain(runtime, s.key_prefix) == Counter({"sent": bulk_room - 50})
    assert feeder.run_once() == 0
    assert int(redis_client.hget(Keys(s.key_prefix).campaign(receipt.campaign_id), "fed")) == bulk_room


def test_with_an_overflow_route_the_feeder_feeds_past_the_dedicated_budget_and_the_rest_goes_by_overflow(settings, redis_client):
    """Issue 23: the dedicated IP takes its bulk budget; the feeder goes on feeding its window, and what the
    IP cannot carry leaves through the overflow configuration set (bulk=0: no wait, to keep the test short)."""
    s = settings.model_copy(update={"warmup_start_per_day": 120, "campaign_feed_window": 50,
                                    "overflow_configuration_set": "ses-ramp-overflow", "overflow_after_s": "bulk=0"})
    producer = Producer(s)
    receipt = producer.enqueue_campaign(CONTENT, people(400))
    producer.close()
    from ses_ramp.worker.app import create_app

    runtime = runtime_for(s)
    runtime.budget.roll_day()
    status = runtime.budget.status()
    bulk_room = status["cap"] - status["transactional_reserve"]
    feeder = Feeder(s, redis_client, create_app(s), runtime.budget.now_ms)
    fed = 0
    while fed < 400:
        n = feeder.run_once()
        assert n > 0, "the feeder never waits for the dedicated budget"
        fed += n
        assert drain(runtime, s.key_prefix) == Counter({"sent": n})
    day = redis_client.hgetall(Keys(s.key_prefix).day)
    assert int(day["sent"]) == bulk_room and int(day["ov_sent"]) == 400 - bulk_room
    assert int(redis_client.hget(Keys(s.key_prefix).campaign(receipt.campaign_id), "settled")) == 400


def test_a_missing_field_or_a_bad_address_is_refused_at_enqueue_and_nothing_is_stored(settings, redis_client):
    producer = Producer(settings)
    try:
        rows = people(3)
        del rows[2]["code"]
        with pytest.raises(InvalidMessage, match=r"recipient 3 \(reader2@example.com\) has no code"):
            producer.enqueue_campaign(CONTENT, rows)
        with pytest.raises(InvalidMessage, match="recipient 2: invalid address"):
            producer.enqueue_campaign(CONTENT, [people(1)[0], {"email": "not an address", "first_name": "x", "code": "y"}])
        with pytest.raises(InvalidMessage, match="html: template error"):
            producer.enqueue_campaign({**CONTENT, "html": "<p>{{ first_name </p>"}, people(1))
        with pytest.raises(InvalidMessage, match="campaign_id: ASCII letters, digits"):
            producer.enqueue_campaign(CONTENT, people(1), campaign_id="spring news")
    finally:
        producer.close()
    assert not list(redis_client.scan_iter(f"{settings.key_prefix}:*campaign*"))


def test_suppressed_and_repeated_addresses_are_left_out_and_counted(settings, redis_client):
    keys = Keys(settings.key_prefix)
    redis_client.sadd(keys.suppressed, "reader1@example.com")
    redis_client.sadd(keys.unsubscribed("news"), "reader2@example.com")
    producer = Producer(settings)
    try:
        receipt = producer.enqueue_campaign(CONTENT, [*people(5), people(1)[0]])
    finally:
        producer.close()
    assert (receipt.recipients, receipt.suppressed, receipt.duplicates) == (3, 2, 1)
    assert redis_client.llen(keys.campaign_rcpts(receipt.campaign_id)) == 3


def test_ramp_enqueue_campaign_reads_a_csv_and_ramp_campaigns_shows_it(settings, redis_client, tmp_path):
    content = tmp_path / "content.json"
    content.write_text(json.dumps(CONTENT))
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text("email,first_name,code\n" + "".join(f"r{i}@example.com,R{i},C{i}\n" for i in range(30)))
    done = ramp(settings, "enqueue", "--campaign", str(content), str(csv_file), "--campaign-id", "spring-news",
                process=True)  # `sending`'s subprocess smoke test
    receipt = json.loads(done.stdout)
    assert receipt["campaign_id"] == "spring-news" and receipt["recipients"] == 30 and receipt["first_send_date"]
    again = ramp(settings, "enqueue", "--campaign", str(content), str(csv_file), "--campaign-id", "spring-news", check=False)
    assert again.returncode == 2 and "campaign spring-news already exists" in again.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("address_of,first_name\nx@example.com,X\n")
    refused = ramp(settings, "enqueue", "--campaign", str(content), str(bad), check=False)
    assert refused.returncode == 2 and "needs an email column" in refused.stderr
    listing = ramp(settings, "campaigns", "list", "--json")
    rows = json.loads(listing.stdout)
    assert [(r["id"], r["total"], r["fed"]) for r in rows] == [("spring-news", "30", "0")]


def test_the_forecast_counts_campaign_recipients_not_yet_fed(settings, redis_client):
    from ses_ramp.producers.forecast import read_inputs

    producer = Producer(settings)
    try:
        producer.enqueue_campaign(CONTENT, people(40))
    finally:
        producer.close()
    _, _, waiting = read_inputs(redis_client, settings)
    assert waiting.total("bulk") == 40


def test_cancelling_a_campaign_drops_its_unfed_recipients_and_releases_the_content(settings, redis_client):
    s = settings.model_copy(update={**BIG, "campaign_feed_window": 4})
    runtime = runtime_for(s)
    producer = Producer(s)
    receipt = producer.enqueue_campaign(CONTENT, people(10))
    producer.close()
    from ses_ramp.worker.app import create_app

    assert Feeder(s, redis_client, create_app(s), runtime.budget.now_ms).run_once() == 4
    done = ramp(s, "campaigns", "cancel", receipt.campaign_id)
    assert "6 recipients dropped; 4 already fed still go" in done.stdout
    keys = Keys(s.key_prefix)
    assert not redis_client.exists(keys.campaign_rcpts(receipt.campaign_id))
    assert redis_client.hget(keys.content(receipt.content), "refs") == "4" and redis_client.pttl(keys.content(receipt.content)) == -1
    assert drain(runtime, s.key_prefix) == Counter({"sent": 4})
    assert redis_client.zscore(keys.campaigns, receipt.campaign_id) is None, "settled: the last fed one was the last"
    assert 0 < redis_client.pttl(keys.content(receipt.content)) <= 2 * s.visibility_timeout_s * 1000
    assert sum(int(v) for v in redis_client.hvals(keys.campaign_waiting)) == 0
    missing = ramp(s, "campaigns", "cancel", "nope", check=False)
    assert missing.returncode != 0 and "no campaign nope" in missing.stderr


def test_a_flushed_campaign_comes_back_as_whole_messages_and_is_released(settings, redis_client):
    from ses_ramp.producers.wire import SEND_TASK
    from ses_ramp.worker.app import create_app
    from ses_ramp.worker.ops.parking import flush, restore

    s = settings.model_copy(update=BIG)
    runtime = runtime_for(s)
    producer = Producer(s)
    receipt = producer.enqueue_campaign(CONTENT, people(3))
    big = producer.enqueue({"to": ["big@example.com"], "subject": "big", "html": CONTENT["html"], "list": "news", "kind": "bulk"})
    assert Feeder(s, redis_client, create_app(s), runtime.budget.now_ms).run_once() == 3
    assert flush(runtime, "bulk")["queued"] == 3  # two chunks (engagements 0.2, and 0.0 and 0.1: two priorities), one compressed message
    report = restore(runtime, producer)
    producer.close()
    assert (report.restored, report.refused, report.expired) == (4, [], [])
    keys = Keys(s.key_prefix)
    queued = [task_of(raw) for name in keys.queue_lists("bulk", PRIORITY_STEPS) for raw in redis_client.lrange(name, 0, -1)]
    assert {task for task, _ in queued} == {SEND_TASK}
    subjects = sorted(m["subject"] for _, m in queued)
    assert subjects == ["News for Reader0", "News for Reader1", "News for Reader2", "big"]
    assert next(m for _, m in queued if m["subject"] == "big")["id"] == big.id
    assert redis_client.hget(keys.campaign(receipt.campaign_id), "settled") == "3"
    assert redis_client.hget(keys.content(receipt.content), "refs") == "0"


def test_a_recipient_without_budget_waits_alone_and_goes_the_next_day_as_a_single_campaign_message(settings, redis_client):
    from datetime import UTC, datetime, timedelta

    from ses_ramp.producers.wire import CAMPAIGN_TASK
    from ses_ramp.worker.app import create_app
    from ses_ramp.worker.fleet.mover import Mover
    from tests.helpers import set_clock

    s = settings.model_copy(update={"warmup_start_per_day": 10, "warmup_target_per_day": 10_000})
    runtime = runtime_for(s)
    set_clock(runtime, datetime(2027, 3, 1, 9, tzinfo=UTC))
    producer = Producer(s)
    receipt = producer.enqueue_campaign(CONTENT, [{**r, "engagement": 0.9} for r in people(12)])  # one priority: one chunk
    producer.close()
    runtime.budget.roll_day()
    app = create_app(s)
    feeder = Feeder(s, redis_client, app, runtime.budget.now_ms)
    feeder.window = 100  # the test's point is the gate, not the window
    fed = feeder.run_once()
    assert fed == 8, "today's bulk budget: cap 10 less the transactional reserve of 2"
    assert drain(runtime, s.key_prefix) == Counter({"sent": 8})
    assert feeder.run_once() == 0, "nothing more today"
    set_clock(runtime, datetime(2027, 3, 2, 9, tzinfo=UTC))
    fed = feeder.run_once()
    assert fed == 4
    # The next day: a gate that says "no budget" for one of a chunk's recipients defers it alone.
    keys = Keys(s.key_prefix)
    runtime.budget.roll_day()
    redis_client.hset(keys.day, "cap", int(redis_client.hget(keys.day, "used") or 0) + 2 + int(redis_client.hget(keys.day, "reserve")))
    assert drain(runtime, s.key_prefix) == Counter({"sent": 2, "waiting": 2})
    set_clock(runtime, datetime(2027, 3, 3, 9, tzinfo=UTC) + timedelta(minutes=1))
    assert Mover(runtime.deferrals, app, 100).run_once() == 2
    queued = [task_of(raw) for name in keys.queue_lists("bulk", PRIORITY_STEPS) for raw in redis_client.lrange(name, 0, -1)]
    assert [task for task, _ in queued] == [CAMPAIGN_TASK, CAMPAIGN_TASK]
    for _, wire in queued:
        assert runtime.sender.handle_campaign(wire).outcome == "sent"
    assert redis_client.hget(keys.campaign(receipt.campaign_id), "settled") == "12"
    assert redis_client.zscore(keys.campaigns, receipt.campaign_id) is None
