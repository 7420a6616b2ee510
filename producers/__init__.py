"""What applications import to send mail through ses-ramp.

Imports neither worker code nor boto3: an app that only enqueues needs celery/kombu and redis.
"""

from ses_ramp.producers.enqueue import Producer, Receipt, enqueue, enqueue_campaign, enqueue_many
from ses_ramp.producers.errors import (
    BatchPartiallyPublished,
    InvalidMessage,
    ProducerError,
    QueueUnavailable,
    SuppressedRecipient,
    Unsubscribed,
)
from ses_ramp.producers.message import Kind, Message

__all__ = [
    "BatchPartiallyPublished",
    "InvalidMessage",
    "Kind",
    "Message",
    "Producer",
    "ProducerError",
    "QueueUnavailable",
    "Receipt",
    "SuppressedRecipient",
    "Unsubscribed",
    "enqueue",
    "enqueue_campaign",
    "enqueue_many",
]
