"""The wire contract between producers and workers: task name, queues, priorities, broker options.

Workers import this module; it imports nothing of the worker, so apps that only enqueue stay light.
"""

from __future__ import annotations

from typing import Any

from ses_ramp.config import Settings
from ses_ramp.producers.message import Kind, Message

SEND_TASK = "ses_ramp.send"
#: One campaign recipient: its address, merge data and the content's hash (`campaigns/content.py`).
CAMPAIGN_TASK = "ses_ramp.send_campaign"
#: Consecutive recipients of one campaign in one task (`campaigns/recipients.py` `chunk_wires`): the
#: feeder publishes one Celery message per chunk, not per recipient.
CAMPAIGN_CHUNK_TASK = "ses_ramp.send_campaign_chunk"
QUEUES = (Kind.transactional.value, Kind.bulk.value)

#: kombu's Redis transport: 0 is the *highest* priority and a message without one lands at 0, and every
#: queue's step-0 list is read before any step-3 list. So transactional owns 0-4 and bulk 5-9: priority,
#: not queue order, is what puts transactional first. Within a kind, higher engagement -> lower number.
PRIORITY_STEPS = list(range(10))
_KIND_BASE = {Kind.transactional: 0, Kind.bulk: 5}


def priority_for(kind: Kind, engagement: float) -> int:
    """kombu priority (0 = first) of a message of `kind` with `engagement` in 0..1."""
    level = 4 - min(4, int(engagement * 5))
    return _KIND_BASE[kind] + level


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    return {
        "priority_steps": PRIORITY_STEPS,
        "sep": ":",
        "queue_order_strategy": "priority",
        "global_keyprefix": f"{settings.key_prefix}:q:",
        "visibility_timeout": settings.visibility_timeout_s,
        # Sweep for messages of dead workers often enough that a short visibility timeout means what it says.
        "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 5)),
        "unacked_restore_throttle": 1,
        # The restore sweep runs under a mutex; a worker that dies holding it (a broker outage can do
        # that) would block every other worker's sweep for kombu's default 300 s.
        "unacked_mutex_expire": max(30, min(300, settings.visibility_timeout_s)),
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "health_check_interval": 25,
        # kombu's sentinel:// transport asks the Sentinels for this master (ignored by redis://).
        **({"master_name": settings.redis_sentinel_master} if settings.redis_sentinel_master else {}),
    }


def ssl_options(url: str) -> dict[str, Any] | None:
    """rediss:// URLs: verify the server certificate unless the URL says otherwise (ssl_cert_reqs=...)."""
    if not url.startswith("rediss://"):
        return None
    import ssl

    return {"ssl_cert_reqs": ssl.CERT_REQUIRED} if "ssl_cert_reqs" not in url else {}


def task_queues() -> list[Any]:
    """Both queues on kombu's nameless default exchange: a publish is one LPUSH, with no exchange
    binding lookup (an SMEMBERS round trip per message on the Redis transport)."""
    from kombu import Exchange, Queue

    return [Queue(q, exchange=Exchange("", type="direct"), routing_key=q) for q in QUEUES]


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings both sides share: JSON only, routed by kind, acks after the work is done."""
    broker = settings.effective_broker_url
    conf: dict[str, Any] = {
        "broker_url": broker,
        "broker_transport_options": broker_transport_options(settings),
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "result_accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_disable_prefetch": True,
        "task_queues": task_queues(),
        "task_default_queue": Kind.bulk.value,
        "task_default_exchange": "",
        "task_queue_max_priority": 9,
        "task_default_priority": 9,
        "task_routes": {SEND_TASK: {"queue": Kind.bulk.value}},
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        "enable_utc": True,
    }
    ssl = ssl_options(broker)
    if ssl is not None:
        conf["broker_use_ssl"] = ssl
    return conf


def is_campaign(wire: dict[str, Any]) -> bool:
    """A campaign recipient's message (rendered by the worker) rather than a whole one."""
    return "campaign" in wire


def republish(app: Any, wire: dict[str, Any], attempt: int, producer: Any, compress_over_bytes: int = 0) -> None:
    """Publish a wire message again (the mover, a restore): by its own task, at its own priority."""
    if is_campaign(wire):
        kind = Kind(wire.get("kind", Kind.bulk.value))
        app.send_task(CAMPAIGN_TASK, args=[wire], kwargs={"attempt": attempt}, task_id=wire["id"], producer=producer,
                      queue=kind.value, priority=priority_for(kind, float(wire.get("engagement", 0.5))),
                      argsrepr=f"<campaign message {wire['id']}>", kwargsrepr="")
        return
    message = Message.from_wire(wire)
    app.send_task(SEND_TASK, args=[wire], kwargs={"attempt": attempt}, task_id=message.id, producer=producer,
                  **publish_options(message, compress_over_bytes))


def task_args(message: Message, attempt: int = 0) -> tuple[list[Any], dict[str, Any]]:
    """Celery args/kwargs of the send task for `message` at `attempt` (0 = first try)."""
    return [message.to_wire()], {"attempt": attempt}


def publish_options(message: Message, compress_over_bytes: int = 0) -> dict[str, Any]:
    """How `message` is published. A body over `compress_over_bytes` (0: never) goes zlib-compressed:
    kombu's Redis transport base64-encodes every body, so 3 KB of HTML and text costs about 5 KB of
    Redis uncompressed (`make bench` prints both)."""
    size = len(message.text or "") + len(message.html or "")
    return {
        **({"compression": "zlib"} if compress_over_bytes and size > compress_over_bytes else {}),
        "queue": message.kind.value,
        "priority": priority_for(message.kind, message.engagement),
        # Explicit reprs: Celery's saferepr of the args costs ~0.4 ms and would put recipients in its logs.
        "argsrepr": f"<message {message.id}>",
        "kwargsrepr": "",
    }
