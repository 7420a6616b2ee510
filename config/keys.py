"""The whole Redis key layout of ses-ramp, built through one prefixing helper.

Every key is `<prefix>:{<prefix>}:<name>`: the `{<prefix>}` hash tag puts all of them in one Redis
Cluster slot, so a Lua script may touch any set of them (the gate reads day, pause, rate and the
message's idempotency record in one call). Celery's own queue lists live beside them under
`<prefix>:q:` (kombu's `global_keyprefix`).

| key                         | type   | holds                                                                  |
|-----------------------------|--------|------------------------------------------------------------------------|
| `clock_offset_ms`           | string | ms added to Redis TIME by every script (tests move "now" with it)      |
| `day`                       | hash   | today's budget: window, cap, reserve, hour pacing, used counters;      |
|                             |        | per mailbox provider `step@<p>`, `plan@<p>`, `cap@<p>`, `used@<p>`,    |
|                             |        | `refused@<p>` (recipients its cap turned away); the overflow route's   |
|                             |        | `ov_used`, `ov_sent`, `ov_used@<p>`, ... beside the dedicated ones     |
| `ramp`                      | hash   | warm-up state: step, days held at step, sending days, last sending day;|
|                             |        | each provider's own `step@<p>`, `days_at_step@<p>`                     |
| `history`                   | list   | JSON of each closed day (newest first, capped)                         |
| `account`                   | hash   | SES GetAccount quota: max_24h, sent_24h, max_rate_per_s, fetched_ms     |
| `ses_warmup`                | string | JSON: SES's own warm-up as last read (auto warm-up, pool mode, IPs)     |
| `known`                     | hash   | recipients delivered to: 64-bit address digest -> day number of the  |
|                             |        | last Delivery (`producers/known.py`), pruned past the window         |
| `gmail`                     | hash   | Postmaster Tools: `day:<domain>:<date>` -> JSON report and when it     |
|                             |        | arrived; `applied_ms` (the last roll-over that judged them); `status`  |
| `rate`                      | hash   | adaptive rate: current per-second rate, why, last change (ms); SES's   |
|                             |        | max rate; `tat_ms`, the GCRA rate limiter's theoretical arrival time;  |
|                             |        | the same fields `@<provider>` for a provider whose receivers deferred  |
| `pause`                     | hash   | kind (`transactional`/`bulk`/`all`) -> JSON {by, reason, at}           |
| `idem:<idempotency key>`    | string | `inflight:<ms>:<token>` while SES is called (token `~o`: overflow),    |
|                             |        | `sent:<ses id>` after                                                  |
| `deferred`                  | zset   | message id -> due time (ms)                                            |
| `moving`                    | zset   | message id -> lease end (ms) while a mover republishes it              |
| `payload`                   | hash   | message id -> JSON {message, attempt, reason, ...} of deferred ones    |
| `dead`                      | hash   | message id -> JSON {message, error, attempts, at}                      |
| `unconfirmed`               | hash   | message id -> JSON: a worker died during its SES call (not resent)     |
| `parked:<kind>`             | list   | JSON messages an operator flushed (oldest at the head)                 |
| `suppressed`                | set    | normalised addresses that must never be mailed again                   |
| `unsubscribed:<list>`       | set    | addresses that unsubscribed from one list (bulk to it is refused)      |
| `events`                    | hash   | rolling event counters: `<metric>:<window>:<bucket start s>` -> count  |
| `sendday:<date>`            | hash   | SES events by the local day their message was sent: metric -> count,    |
|                             |        | and `<metric>@<provider>` per mailbox provider of the recipients;      |
|                             |        | `ip:<ip>` deliveries per outgoing IP; the overflow route's as `ov:...` |
| `send_event:<message id>`   | string | SES published a Send event for this message (reconciles unconfirmed)   |
| `event_seen:<identity>`     | string | an SES event already counted (SQS redelivers): `guards/dedupe.py`      |
| `delivered:<ses message id>`| set    | recipients SES delivered to (a later DeliveryDelay for them is stale)  |
| `bad_events`                | list   | malformed SES events moved aside (newest first, capped)                |
| `breaker`                   | hash   | breaker state: level, why, at_ms; probation snapshot                   |
| `watermark`                 | zset   | `ramp events`' progress: newest_mail_ms (newest SES event handled),    |
|                             |        | empty_at_ms (last time it found the queue empty), both ms (ZADD GT)    |
| `expire_ok`                 | string | bulk messages accepted with `expire_ok` although the forecast had them go out after they expire |
| `content:<sha>`             | hash   | a campaign's content, stored once: `body` (JSON), `refs` (recipients    |
|                             |        | not yet settled); expires a grace after `refs` reaches 0              |
| `campaign:<id>`             | hash   | content sha, kind, total, fed (recipients turned into messages so far), |
|                             |        | settled (released), suppressed and duplicates (left out), cancelled,   |
|                             |        | created_ms; a probe's: probe (sampling/released/parked), probe_reason, |
|                             |        | sample, held, probe_fed_ms, probe_day + probe_day_fed (today's share)  |
| `campaign_rcpts:<id>`       | list   | recipients not yet fed, packed JSON `[address, name, engagement, merge]` |
|                             |        | (the head is recipient number `fed`); trimmed as they are fed          |
| `campaign_sample:<id>`      | list   | a probe's sample not yet fed (packed as above; fed before the rest)    |
| `campaign_held:<id>`        | list   | new recipients held until the probe is judged (then appended to rcpts) |
| `campaign_probe:<id>`       | hash   | the sample's SES events: deliveries, hard_bounces, soft_bounces, ...   |
| `probe_fed:<date>`          | string | probe sample recipients fed on that day, all campaigns (`config/probe.py`) |
| `campaign_done:<id>`        | string | bitmap: bit n set once recipient n no longer needs the content        |
| `campaigns`                 | zset   | campaigns not yet settled to the last recipient: id -> created ms      |
| `campaign_waiting`          | hash   | `<kind>:<priority>` -> campaign recipients not yet fed (`ramp forecast`) |
| `provider:<domain>`         | string | the mailbox provider a domain's MX records name (expires with the MX TTL) |
| `provider_pending`          | set    | domains met and not yet looked up (a fleet duty resolves them)         |
| `audit`                     | list   | the dashboard's control actions, newest first (JSON: at_ms, by, action, target, reason; capped) |
| `lock:<name>`               | string | short-lived locks (day roll-over, quota refresh)                       |
| `heartbeat:<role>:<host>`   | string | `ramp beat` / `ramp events` alive on host (expires; `ramp health`)     |

kombu's own keys under `<prefix>:q:`: the queue lists (`transactional`, `bulk`, with `:<priority>`
suffixes), `unacked` (hash: delivery tag -> the message a worker holds) and `unacked_index` (zset:
delivery tag -> delivery time, s), read by `ramp status` to show messages held by workers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "ramp"

    def key(self, name: str) -> str:
        """The one prefixing helper: every ses-ramp key goes through here."""
        return f"{self.prefix}:{{{self.prefix}}}:{name}"

    @property
    def queue_prefix(self) -> str:
        """kombu's `global_keyprefix`: Celery's queue lists are `<this><queue>[:<priority>]`."""
        return f"{self.prefix}:q:"

    # Named accessors keep the layout greppable and typo-proof.
    clock_offset_ms = property(lambda self: self.key("clock_offset_ms"))
    day = property(lambda self: self.key("day"))
    ramp = property(lambda self: self.key("ramp"))
    history = property(lambda self: self.key("history"))
    account = property(lambda self: self.key("account"))
    ses_warmup = property(lambda self: self.key("ses_warmup"))
    gmail = property(lambda self: self.key("gmail"))
    known = property(lambda self: self.key("known"))
    rate = property(lambda self: self.key("rate"))
    pause = property(lambda self: self.key("pause"))
    deferred = property(lambda self: self.key("deferred"))
    moving = property(lambda self: self.key("moving"))
    payload = property(lambda self: self.key("payload"))
    expire_ok = property(lambda self: self.key("expire_ok"))
    dead = property(lambda self: self.key("dead"))
    unconfirmed = property(lambda self: self.key("unconfirmed"))
    suppressed = property(lambda self: self.key("suppressed"))
    events = property(lambda self: self.key("events"))
    bad_events = property(lambda self: self.key("bad_events"))
    breaker = property(lambda self: self.key("breaker"))
    watermark = property(lambda self: self.key("watermark"))
    campaigns = property(lambda self: self.key("campaigns"))
    campaign_waiting = property(lambda self: self.key("campaign_waiting"))
    audit = property(lambda self: self.key("audit"))

    provider_pending = property(lambda self: self.key("provider_pending"))

    def provider(self, domain: str) -> str:
        return self.key(f"provider:{domain}")

    def content(self, sha: str) -> str:
        return self.key(f"content:{sha}")

    def campaign(self, campaign_id: str) -> str:
        return self.key(f"campaign:{campaign_id}")

    def campaign_rcpts(self, campaign_id: str) -> str:
        return self.key(f"campaign_rcpts:{campaign_id}")

    def campaign_sample(self, campaign_id: str) -> str:
        return self.key(f"campaign_sample:{campaign_id}")

    def campaign_held(self, campaign_id: str) -> str:
        return self.key(f"campaign_held:{campaign_id}")

    def campaign_probe(self, campaign_id: str) -> str:
        return self.key(f"campaign_probe:{campaign_id}")

    def probe_fed(self, day: str) -> str:
        return self.key(f"probe_fed:{day}")

    def campaign_done(self, campaign_id: str) -> str:
        return self.key(f"campaign_done:{campaign_id}")

    def send_event(self, message_id: str) -> str:
        return self.key(f"send_event:{message_id}")

    def event_seen(self, identity: str) -> str:
        return self.key(f"event_seen:{identity}")

    def delivered(self, ses_message_id: str) -> str:
        return self.key(f"delivered:{ses_message_id}")

    def idem(self, idempotency_key: str) -> str:
        return self.key(f"idem:{idempotency_key}")

    def parked(self, kind: str) -> str:
        return self.key(f"parked:{kind}")

    def sendday(self, day: str) -> str:
        """SES events counted by the day their message was sent (see `budget/cohorts.py`)."""
        return self.key(f"sendday:{day}")

    def unsubscribed(self, list_id: str) -> str:
        """Addresses that unsubscribed from one list (one-click, or SES's list management)."""
        return self.key(f"unsubscribed:{list_id}")

    def lock(self, name: str) -> str:
        return self.key(f"lock:{name}")

    def heartbeat(self, role: str, host: str) -> str:
        return self.key(f"heartbeat:{role}:{host}")

    @property
    def unacked(self) -> str:
        """kombu's hash of delivered, unacknowledged messages: delivery tag -> [message, exchange, queue]."""
        return f"{self.queue_prefix}unacked"

    @property
    def unacked_index(self) -> str:
        """kombu's zset: delivery tag -> when it was delivered (epoch seconds, the worker's clock)."""
        return f"{self.queue_prefix}unacked_index"

    def queue_lists(self, queue: str, priority_steps: list[int]) -> list[str]:
        """Every Redis list kombu keeps for `queue` (one per priority step; step 0 has no suffix)."""
        return [f"{self.queue_prefix}{queue}" + (f":{p}" if p else "") for p in priority_steps]
