"""SES events in: configuration set -> SNS -> SQS -> this consumer -> Redis counters, suppression, breaker.

A message is deleted from SQS only after its effects are stored. A malformed one is logged, moved
aside (Redis `bad_events`) and deleted, so it never blocks the queue or crashes the loop.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import RedisError

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers.message import normalise_address
from ses_ramp.producers.providers import Known
from ses_ramp.worker.fleet.heartbeat import Heartbeat
from ses_ramp.worker.guards import cohorts, dedupe
from ses_ramp.worker.guards.event_parse import Effects, MalformedEvent, effects_of, parse_event
from ses_ramp.worker.lua import record_event_script

log = structlog.get_logger(logger_name="ses_ramp.events")

#: (window seconds, bucket seconds): a 300 s window in 10 s buckets, a 24 h window in 5 min buckets.
WINDOWS = ((300, 10), (86_400, 300))
METRICS = ("sends", "deliveries", "hard_bounces", "soft_bounces", "complaints", "rejects", "delays")
BAD_EVENTS_KEPT = 1000


class EventStore:
    """Rolling counters in one Redis hash, bucketed per window (see config/keys.py)."""

    def __init__(self, client, keys: Keys, day_timezone: str = "UTC", known: Known | None = None,
                 overflow_set: str | None = None) -> None:
        self.client = client
        self.overflow_set = overflow_set  # RAMP_OVERFLOW_CONFIGURATION_SET: its events are counted apart
        self.keys = keys
        self.day_timezone = day_timezone
        self.known = known  # domain -> mailbox provider: counts per provider on the send day too
        self._record = record_event_script(client)

    def record(self, fx: Effects, now_ms: int) -> str:
        """Store `fx` once: "counted", "duplicate" (this event was counted before: nothing done) or
        "stale" (a delay for recipients already delivered: counted, but no reason to slow down).
        The check and the writes are one Lua call (record_event.lua): one round trip, atomic."""
        writes = _Writes(self.keys.event_seen(fx.identity), self.keys.delivered(fx.ses_id))
        self._count(writes, fx, now_ms)
        if fx.counts.get("deliveries") and fx.ses_id and fx.addresses:
            writes.sadd(writes.keys[1], *fx.addresses)
            writes.expire(writes.keys[1], dedupe.DELIVERED_TTL_S)
        check = list(fx.addresses) if fx.delay_type and fx.ses_id and fx.addresses else []
        found = self._record(keys=writes.keys, args=[dedupe.SEEN_TTL_S if fx.identity else 0, len(check), *check, *writes.args])
        return found.decode() if isinstance(found, bytes) else str(found)

    def _count(self, pipe: Any, fx: Effects, now_ms: int) -> None:
        # The rolling windows count each event in the bucket of its message's send time, as the day
        # verdict counts it on its send day: a bounce that arrives late lands beside the send it
        # belongs to, so a window's rate is bounces of its sends over its sends. (An event without a
        # readable send time counts when it arrives.)
        sent_s = (fx.mail_ms or now_ms) // 1000
        for metric, n in fx.counts.items():
            for window, bucket in WINDOWS:
                pipe.hincrby(self.keys.events, f"{metric}:{window}:{sent_s - sent_s % bucket}", n)
        # The send day's counts (the day's and the providers' verdicts) judge the dedicated IP on its own
        # mail: the overflow route's are kept beside them, apart. The rolling windows above (the breaker)
        # count both routes: SES suspends the account, not the IP.
        by_provider = Counter(self.known.of(fx.addresses)) if self.known is not None and fx.addresses else None
        cohorts.count(pipe, self.keys, fx.counts, fx.delay_type, fx.mail_ms, self.day_timezone, by_provider,
                      overflow=self.is_overflow(fx), outgoing_ip=fx.outgoing_ip)
        if fx.suppress:
            pipe.sadd(self.keys.suppressed, *(normalise_address(a) for a in fx.suppress))
        for list_id, address in fx.unsubscribe:
            pipe.sadd(self.keys.unsubscribed(list_id), normalise_address(address))
        for mid in fx.send_ids:
            pipe.set(self.keys.send_event(mid), "1", ex=7 * 86400)

    def is_overflow(self, fx: Effects) -> bool:
        """The event is about mail of the overflow route (its `ses:configuration-set` tag)."""
        return bool(self.overflow_set) and fx.configuration_set == self.overflow_set

    def note_progress(self, newest_mail_ms: int | None, empty_at_ms: int | None) -> None:
        """Advance the watermark (never back): the newest SES event handled, and when the queue was
        last found empty. The reconciler resends an unconfirmed send only once these prove that its
        Send event would have arrived by now (see `fleet/reconcile.py`)."""
        marks = {name: ms for name, ms in (("newest_mail_ms", newest_mail_ms), ("empty_at_ms", empty_at_ms)) if ms}
        if marks:
            self.client.zadd(self.keys.watermark, marks, gt=True)

    def watermark(self) -> dict[str, int | None]:
        found = dict(self.client.zrange(self.keys.watermark, 0, -1, withscores=True))
        return {name: (int(found[name]) if name in found else None) for name in ("newest_mail_ms", "empty_at_ms")}

    def windows(self, now_ms: int, since_ms: int = 0) -> dict[int, dict[str, int]]:
        """Totals per window: {300: {"sends": .., ...}, 86400: {...}}, counting only buckets that
        start at or after `since_ms` (an operator's resume wipes the slate). Prunes expired buckets."""
        now_s, since_s = now_ms // 1000, since_ms // 1000
        totals = {w: dict.fromkeys(METRICS, 0) for w, _ in WINDOWS}
        stale = []
        for name, value in self.client.hgetall(self.keys.events).items():
            metric, window, start = name.rsplit(":", 2)
            window, start = int(window), int(start)
            bucket = dict(WINDOWS)[window]
            if start + bucket <= now_s - window:
                stale.append(name)
            elif metric in totals[window] and start + bucket > since_s:
                totals[window][metric] += int(value)
        if stale:
            self.client.hdel(self.keys.events, *stale)
        return totals


class _Writes:
    """The pipe-like recorder `_count` and `cohorts.count` write to: it turns their calls into
    record_event.lua's KEYS and ARGV, so the whole event is stored in that one call."""

    def __init__(self, seen: str, delivered: str) -> None:
        self.keys: list[str] = [seen, delivered]
        self.args: list[Any] = []
        self._index = {seen: 1, delivered: 2}

    def _add(self, command: str, key: str, *args: Any) -> None:
        if key not in self._index:
            self.keys.append(key)
            self._index[key] = len(self.keys)
        self.args.extend([command, self._index[key], len(args), *args])

    def hincrby(self, key: str, field: str, n: int) -> None:
        self._add("HINCRBY", key, field, n)

    def sadd(self, key: str, *members: str) -> None:
        self._add("SADD", key, *members)

    def set(self, key: str, value: str, ex: int) -> None:
        self._add("SET", key, value, "EX", ex)

    def expire(self, key: str, seconds: int) -> None:
        self._add("EXPIRE", key, seconds)


def apply_event(store: EventStore, budget, event: dict[str, Any], now_ms: int | None = None) -> Effects:
    """Store one parsed SES event's effects: counters (by send day and send time), suppression,
    unsubscriptions, Send marks; a delay or soft bounce also backs the adaptive rate off.
    Raises MalformedEvent for an event of a known type missing what it needs."""
    fx = effects_of(event)
    if store.record(fx, budget.now_ms() if now_ms is None else now_ms) != "counted":
        return fx  # counted before, or a delay its delivery has overtaken: no back-off (dedupe.py)
    if fx.deferral and not store.is_overflow(fx):  # the shared pool's receivers say nothing of the warming IP
        # Receivers deferring judge the IP for their own provider: with per-provider ramps only those
        # providers' rates are cut, the others' mail keeps its pace.
        providers = sorted(set(budget.known.of(fx.addresses))) if budget.known is not None and fx.addresses else [""]
        for provider in providers:
            budget.back_off(provider)
    return fx


def handle_body(store: EventStore, budget, body: str, now_ms: int | None = None) -> Effects:
    """One SQS message of the events queue (an SES event, SNS-wrapped or raw), stored: what
    `ramp events` does with each message it receives, and what `ramp simulate` feeds its events
    through. Raises MalformedEvent before storing anything when the body cannot be read."""
    return apply_event(store, budget, parse_event(body), now_ms)


def rates(totals: dict[str, int]) -> dict[str, float]:
    sends = totals["sends"]
    return {
        "sends": sends,
        "bounce_rate": totals["hard_bounces"] / sends if sends else 0.0,
        "complaint_rate": totals["complaints"] / sends if sends else 0.0,
    }


def aws_client(settings: Settings, service: str):
    config = Config(region_name=settings.ses_region, connect_timeout=5, read_timeout=settings.events_wait_s + 10, retries={"total_max_attempts": 2})
    return boto3.session.Session().client(service, endpoint_url=settings.effective_aws_endpoint_url, config=config)


class EventsConsumer:
    """Long-polls the events queue; `poll_once` is the unit a loop or a beat task runs."""

    def __init__(self, settings: Settings, runtime, breaker, sqs=None) -> None:
        self.settings = settings
        self.runtime = runtime
        self.breaker = breaker
        self.sqs = sqs or aws_client(settings, "sqs")
        # One domain -> provider memory for the counts and the per-provider back-off (the budget's, when it has one).
        known = runtime.budget.known or Known(settings, runtime.client)
        self.store = EventStore(runtime.client, runtime.budget.keys, settings.day_timezone, known,
                                settings.overflow_configuration_set)
        self._queue_url: str | None = None
        self.heartbeat: Heartbeat | None = None  # set by `ramp events`: refreshed after each successful poll

    @property
    def queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self.sqs.get_queue_url(QueueName=self.settings.events_queue_name)["QueueUrl"]
        return self._queue_url

    def poll_once(self, wait_s: int | None = None) -> int:
        """Receive up to 10 events, store their effects, delete them. Returns how many were handled."""
        got = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10,
            WaitTimeSeconds=self.settings.events_wait_s if wait_s is None else wait_s,
        ).get("Messages", [])
        done = []
        newest_ms = 0
        try:
            for msg in got:
                try:
                    fx = handle_body(self.store, self.runtime.budget, msg["Body"])
                except MalformedEvent as exc:
                    self._move_aside(msg, str(exc))
                else:
                    newest_ms = max(newest_ms, fx.mail_ms)
                done.append(msg)
        finally:
            # Only what was stored is acknowledged; the rest (a Redis failure) comes back after
            # the SQS visibility timeout.
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
        # The watermark moves only after the effects are stored: it may lag, never lead.
        self.store.note_progress(newest_ms or None, None if got else self._empty_since_ms())
        if got:
            self.breaker.evaluate()
        return len(done)

    def _empty_since_ms(self) -> int | None:
        """After an empty receive: the time up to which no event can still be on its way, or None.
        An empty receive alone proves little: an event another `ramp events` received and has not
        deleted yet is invisible for the queue's VisibilityTimeout. So the queue counts as empty only
        when SQS also reports no message in flight (ApproximateNumberOfMessagesNotVisible = 0), and,
        as that count is approximate, only up to one VisibilityTimeout ago: anything received before
        that and not deleted would have become visible again."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible", "VisibilityTimeout"],
        ).get("Attributes", {})
        if int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)):
            return None
        return self.runtime.budget.now_ms() - int(attrs.get("VisibilityTimeout", 30)) * 1000

    def _move_aside(self, msg: dict[str, Any], why: str) -> None:
        log.warning("malformed_event", sqs_message_id=msg.get("MessageId"), error=why)
        k = self.runtime.budget.keys
        entry = json.dumps({"error": why, "body": msg.get("Body", "")[:10_000], "at_ms": self.runtime.budget.now_ms()})
        with self.runtime.client.pipeline(transaction=True) as pipe:
            pipe.lpush(k.bad_events, entry)
            pipe.ltrim(k.bad_events, 0, BAD_EVENTS_KEPT - 1)
            pipe.execute()

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop`: every failure is logged and waited out, none ends the loop."""
        delay_s = 1.0
        while not stop.is_set():
            try:
                self.poll_once()
                self.breaker.check_alarm()
                if self.heartbeat is not None:
                    self.heartbeat.beat()
                delay_s = 1.0
            except (BotoCoreError, ClientError) as exc:
                self._queue_url = None if isinstance(exc, ClientError) else self._queue_url
                log.error("events_sqs_unavailable", endpoint=self.settings.effective_aws_endpoint_url or "aws",
                          queue=self.settings.events_queue_name, error=str(exc), retry_in_s=delay_s)
                stop.wait(delay_s)
                delay_s = min(60.0, delay_s * 2)
            except RedisError as exc:
                log.error("events_redis_unavailable", error=str(exc), retry_in_s=delay_s)
                stop.wait(delay_s)
                delay_s = min(60.0, delay_s * 2)
            except Exception:  # noqa: BLE001 - the loop must survive anything
                log.exception("events_loop_error")
                stop.wait(delay_s)
            if stop.is_set():
                break


def _consumer(settings: Settings, runtime) -> EventsConsumer:
    """The consumer `ramp events` runs: SQS in, with the breaker watching the CloudWatch alarm."""
    from ses_ramp.worker.guards.breaker import Breaker

    return EventsConsumer(settings, runtime, Breaker(settings, runtime, cloudwatch=aws_client(settings, "cloudwatch")))


def run_events(settings: Settings, runtime, stop: threading.Event) -> None:
    """`ramp events`: consume until `stop`, with the heartbeat `ramp health events` reads."""
    consumer = _consumer(settings, runtime)
    # Refreshed after every poll; a poll waits up to RAMP_EVENTS_WAIT_S, so the key outlives a few.
    heartbeat = consumer.heartbeat = Heartbeat(runtime.client, runtime.budget.keys, "events", ttl_s=3 * settings.events_wait_s + 30)
    try:
        consumer.run(stop)
    finally:
        heartbeat.stop()


def poll_events_once(settings: Settings, runtime) -> int:
    """`ramp events --once`: one poll without waiting; returns how many events were handled."""
    return _consumer(settings, runtime).poll_once(wait_s=0)
