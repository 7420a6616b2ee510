"""Errors a producer can raise. Each names what is wrong; none of them loses an accepted message."""

from __future__ import annotations


class ProducerError(Exception):
    """Root of every producer-side error."""


class InvalidMessage(ProducerError, ValueError):
    """The message was refused before reaching the queue; `field` names the offending field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class SuppressedRecipient(InvalidMessage):
    """A recipient is on the suppression list (hard bounce, complaint, or an operator's entry)."""

    def __init__(self, field: str, addresses: list[str]) -> None:
        self.addresses = addresses
        super().__init__(field, f"suppressed recipient(s): {', '.join(addresses)}")


class Unsubscribed(SuppressedRecipient):
    """The recipient unsubscribed from this message's list (other lists and transactional mail still go)."""

    def __init__(self, list_id: str, addresses: list[str]) -> None:
        self.list_id = list_id
        self.addresses = addresses
        InvalidMessage.__init__(self, "to", f"unsubscribed from list {list_id!r}: {', '.join(addresses)}")


class QueueUnavailable(ProducerError):
    """The broker could not be reached; the URL is shown with its password masked."""

    def __init__(self, url: str, cause: BaseException, explained: str | None = None) -> None:
        self.url = url
        super().__init__(explained or f"queue unavailable at {url}: {cause}")


class BatchPartiallyPublished(QueueUnavailable):
    """`enqueue_many` failed part way.

    `published` were confirmed on the queue; `unconfirmed` may or may not be there. Re-enqueueing the
    unconfirmed ones is safe: their idempotency keys stop a second send.
    """

    def __init__(self, url: str, cause: BaseException, published: list[str], unconfirmed: list[str]) -> None:
        self.published = published
        self.unconfirmed = unconfirmed
        super().__init__(url, cause)
        self.args = (
            f"queue unavailable at {url} after {len(published)} published; "
            f"{len(unconfirmed)} unconfirmed (first: {unconfirmed[:3]}): {cause}",
        )
