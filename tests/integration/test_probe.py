"""A list never mailed before goes out as a probe first (`config/probe.py`): real workers send through moto,
SES's events (built from the very requests moto recorded, tags and all, as SES echoes them) come back through
moto's SQS to a real `ramp events`, and the fleet duty judges the sample."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ses_ramp.config.probe import ProbePolicy, draw
from ses_ramp.producers import Producer, known
from ses_ramp.producers.campaigns.content import PROBE_TAG
from ses_ramp.worker.budget import cohorts
from ses_ramp.worker.budget.store import day_window
from ses_ramp.worker.fleet import probes
from ses_ramp.worker.send.runtime import Runtime
from ses_ramp.worker.send.transports.aws import aws_client
from ses_ramp.worker.send.transports.noop import NoopTransport
from tests import ses_events as ev
from tests.helpers import ramp, recorded_send_requests, reset_recording, set_clock, settings_env, wait_for

CONTENT = {"subject": "News for {{ first_name }}", "text": "Hello {{ first_name }}.", "list": "news"}


def people(prefix: str, n: int) -> list[dict]:
    return [{"email": f"{prefix}{i}@example.com", "first_name": f"R{i}", "engagement": 0.5} for i in range(n)]


def probe_settings(settings, **extra):
    return settings.model_copy(update={
        "warmup_start_per_day": 2000, "warmup_target_per_day": 2000, "advance_min_usage_share": 0.1,
        "probe_new_recipients": 100, "probe_sample_min": 50, "probe_sample_share": 0.02, "probe_day_share": 0.025,
        "events_queue_name": f"ev-{settings.key_prefix}", "events_wait_s": 1, **extra})


class Ses:
    """What SES does after accepting mail: its events for each request moto recorded, into the SQS queue
    `ramp events` reads."""

    def __init__(self, s, campaign_id: str):
        self.sqs = aws_client(s, "sqs")
        self.url = self.sqs.create_queue(QueueName=s.events_queue_name)["QueueUrl"]
        self.campaign_id = campaign_id
        self.answered: set[str] = set()

    def requests(self, moto_ses) -> dict[str, dict]:
        """This campaign's SendEmail requests by message id (one per recipient)."""
        out = {}
        for r in recorded_send_requests(moto_ses):
            tags = {t["Name"]: [t["Value"]] for t in r.get("EmailTags", [])}
            mid = tags.get("message_id", [""])[0]
            if mid.startswith(f"{self.campaign_id}-"):
                out[mid] = {"to": r["Destination"]["ToAddresses"][0], "tags": tags}
        return out

    def answer(self, moto_ses, bad: set[str]) -> None:
        bodies = []
        for mid, r in self.requests(moto_ses).items():
            if mid in self.answered:
                continue
            self.answered.add(mid)
            tags = {**r["tags"], "ses:configuration-set": ["ses-ramp"]}
            fate = ev.bounce(r["to"], tags=tags) if r["to"] in bad else ev.delivery([r["to"]], tags=tags)
            # SQS delivers at least once: the sample's events (which judge the list) come twice.
            bodies += [ev.sns(ev.send(mid, [r["to"]])), ev.sns(fate)] * (2 if PROBE_TAG in r["tags"] else 1)
        for i in range(0, len(bodies), 10):
            self.sqs.send_message_batch(QueueUrl=self.url, Entries=[{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])])


def events_process(s, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    return subprocess.Popen([sys.executable, "-m", "ses_ramp.worker", "events"], env={**env, **settings_env(s)},
                            stdout=open(tmp_path / "events.log", "wb"), stderr=subprocess.STDOUT)


def listing(s) -> dict:
    return {r["id"]: r for r in json.loads(ramp(s, "campaigns", "list", "--json").stdout)}


def test_a_dirty_list_sends_only_its_sample_is_parked_leaves_the_verdict_clean_and_a_release_sends_the_rest_once(
        settings, moto_ses, workers, runtime, tmp_path):
    s = probe_settings(settings)
    k, cid = runtime.budget.keys, "dirty-list"
    known_rows, new_rows = people("regular", 300), people("legacy", 1000)
    bad = {r["email"] for i, r in enumerate(new_rows) if i % 10 == 0}  # 10% of the legacy list: unknown users
    known.remember(runtime.client, k, [r["email"] for r in known_rows], runtime.budget.now_ms())
    producer = Producer(s)
    receipt = producer.enqueue_campaign(CONTENT, known_rows + new_rows, campaign_id=cid)
    producer.close()
    assert (receipt.recipients, receipt.new, receipt.sample, receipt.held) == (1300, 1000, 50, 950)
    sampled = {new_rows[i]["email"] for i in draw(1000, 50, cid)}
    assert len(sampled & bad) > ProbePolicy.from_settings(s).max_bounce_rate * 50  # the seeded draw holds stale addresses

    reset_recording(moto_ses)  # this test reads only its own requests back
    ses = Ses(s, cid)
    events = events_process(s, tmp_path)
    try:
        workers(count=1, concurrency=2, s=s)
        wait_for(lambda: len(ses.requests(moto_ses)) == 350, 90, 0.2, "the sample and the known recipients to go out")
        sent_to = {r["to"] for r in ses.requests(moto_ses).values()}
        assert sent_to == sampled | {r["email"] for r in known_rows}  # of the legacy list, only the sample
        ses.answer(moto_ses, bad)
        # Polled in Redis, not through `ramp` (a process per poll would starve the workers and `ramp events`).
        wait_for(lambda: runtime.client.hget(k.campaign(cid), "probe") == "parked", 60, 0.2, "the probe to be judged")
        # Parked as soon as its hard bounces passed 2% of the whole sample (the rest could not bring it back
        # under), or on the whole sample: either way the line names what it rests on.
        line = listing(s)[cid]["probe_line"]
        first = re.fullmatch(r"probe failed: (\d+) hard bounces in the first (\d+) of a sample of 50 \(.*\); "
                             r"950 new recipients parked", line)
        whole = f"probe failed: {len(sampled & bad) / 50:.1%} hard bounces in a sample of 50; 950 new recipients parked"
        assert line == whole or (first and 1 < int(first[1]) <= len(sampled & bad) and int(first[2]) < 50), line
        sample_heard = lambda: sum(probes.counts(runtime.client, k, cid).get(m, 0) for m in ("deliveries", "hard_bounces"))  # noqa: E731
        wait_for(lambda: sample_heard() == 50, 120, 0.2, "every event of the sample to be counted")
        assert listing(s)[cid]["probe_events"]["hard_bounces"] == len(sampled & bad)  # each event once, however often SQS delivered it
        assert [(p["id"], p["line"]) for p in json.loads(ramp(s, "status", "--json").stdout)["probes"]] == [(cid, line)]
        assert "probe of dirty-list" in ramp(s, "status").stdout
        assert "ramp campaigns release|cancel dirty-list" in ramp(s, "campaigns", "list").stdout
        assert runtime.client.llen(k.campaign_held(cid)) == 950 and len(ses.requests(moto_ses)) == 350
        assert runtime.client.sismember(k.suppressed, sorted(sampled & bad)[0])

        # The day closes on its own events: the sample's bounces are a few in 350 sends, under the level that holds.
        today = day_window(runtime.budget.now_ms(), s.day_timezone)[0]
        heard = lambda: sum(cohorts.read(runtime.client, k, today.isoformat())[m] for m in ("deliveries", "hard_bounces"))  # noqa: E731
        wait_for(lambda: heard() == 350, 120, 0.2, "every event of the day's sends to be counted")
        set_clock(runtime, datetime.combine(today + timedelta(days=1), datetime.min.time(), ZoneInfo(s.day_timezone)) + timedelta(minutes=1))
        Runtime.build(s, transport=NoopTransport()).budget.roll_day()  # with this test's schedule
        history = json.loads(runtime.client.lindex(k.history, 0))
        assert history["date"] == today.isoformat() and history["verdict"] == "advance", history["why"]

        assert "950 held recipients released" in ramp(s, "campaigns", "release", cid, "--by", "ops").stdout
        wait_for(lambda: len(ses.requests(moto_ses)) == 1300, 120, 0.2, "the released recipients to go out")
        sends = [r["Destination"]["ToAddresses"][0] for r in recorded_send_requests(moto_ses)
                 if any(t["Name"] == "message_id" and t["Value"].startswith(f"{cid}-") for t in r.get("EmailTags", []))]
        assert len(sends) == len(set(sends)) == 1300  # each recipient once
        assert "released by ops" in runtime.client.hget(k.campaign(cid), "probe_reason")
    finally:
        events.terminate()
        events.wait(30)


def test_a_clean_list_of_new_recipients_is_probed_then_released_by_its_verdict(settings, moto_ses, workers, runtime, tmp_path):
    s = probe_settings(settings)
    k, cid = runtime.budget.keys, "clean-list"
    rows = people("fresh", 500)
    producer = Producer(s)
    receipt = producer.enqueue_campaign(CONTENT, rows, campaign_id=cid)
    producer.close()
    assert (receipt.new, receipt.sample, receipt.held) == (500, 50, 450)
    reset_recording(moto_ses)  # this test reads only its own requests back
    ses = Ses(s, cid)
    events = events_process(s, tmp_path)
    try:
        workers(count=1, concurrency=2, s=s)
        # The whole sample fed and settled by the workers, and still sampling: nothing else went.
        wait_for(lambda: runtime.client.hget(k.campaign(cid), "probe_fed_ms") and int(runtime.client.hget(k.campaign(cid), "settled")) == 50,
                 90, 0.2, "the sample to be sent")
        assert runtime.client.hget(k.campaign(cid), "probe") == "sampling" and len(ses.requests(moto_ses)) == 50
        assert runtime.client.llen(k.campaign_held(cid)) == 450
        ses.answer(moto_ses, bad=set())
        wait_for(lambda: len(ses.requests(moto_ses)) == 500, 120, 0.2, "the verdict to release the rest")
        assert runtime.client.hget(k.campaign(cid), "probe") == "released"
        assert runtime.client.hget(k.campaign(cid), "probe_reason") == "probe passed: 0.0% hard bounces in a sample of 50"
    finally:
        events.terminate()
        events.wait(30)


def test_a_list_of_known_recipients_is_not_held_at_all(settings, runtime):
    s = probe_settings(settings)
    k = runtime.budget.keys
    rows = people("regular", 400)
    known.remember(runtime.client, k, [r["email"] for r in rows], runtime.budget.now_ms() - 30 * known.DAY_S * 1000)
    producer = Producer(s)
    receipt = producer.enqueue_campaign(CONTENT, rows, campaign_id="known-list")
    producer.close()
    assert (receipt.new, receipt.sample, receipt.held) == (0, 0, 0)
    assert runtime.client.hget(k.campaign("known-list"), "probe") is None
    assert runtime.client.llen(k.campaign_rcpts("known-list")) == 400
    assert not runtime.client.exists(k.campaign_sample("known-list"), k.campaign_held("known-list"))


def test_cancelling_a_probed_campaign_drops_its_sample_and_its_held_recipients(settings, runtime):
    from ses_ramp.worker.ops.campaigns import cancel

    s = probe_settings(settings)
    k = runtime.budget.keys
    producer = Producer(s)
    receipt = producer.enqueue_campaign(CONTENT, people("stale", 500), campaign_id="to-cancel")
    producer.close()
    assert (receipt.sample, receipt.held) == (50, 450)
    assert cancel(runtime, "to-cancel") == {"dropped": 500, "in_flight": 0}
    assert not runtime.client.exists(k.campaign_sample("to-cancel"), k.campaign_held("to-cancel"), k.campaign_rcpts("to-cancel"))
    assert runtime.client.zscore(k.campaigns, "to-cancel") is None  # nothing left to send: the campaign is done
    assert int(runtime.client.hget(k.content(receipt.content), "refs")) == 0
