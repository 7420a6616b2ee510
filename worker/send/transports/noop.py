"""A transport that sends nothing: for benchmarks of the pipeline itself."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ses_ramp.producers.message import Message


class NoopTransport:
    name = "noop"

    def send(self, message: Message, claim: Callable[[], str]) -> str:
        claim()
        return f"noop-{uuid.uuid4().hex}"

    def account_quota(self) -> None:
        return None
