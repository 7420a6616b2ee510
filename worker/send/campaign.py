"""Campaign messages in the worker: the whole message rendered from the stored content, and the
recipient released once it no longer needs that content (`release.lua`).

Content never changes under its hash, so each process keeps the compiled templates of the last
contents it used: one Redis read per content per process, not per recipient.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.producers.campaigns import store
from ses_ramp.producers.campaigns.content import Templates, recipient_message, templates_for
from ses_ramp.producers.message import Message
from ses_ramp.worker.lua import Scripts

#: Outcomes after which a recipient's message no longer needs the content: it went, or what is kept
#: of it (a dead letter, an unconfirmed send) is the whole rendered message.
RELEASING = frozenset({"sent", "duplicate", "dead", "unconfirmed"})


class ContentGone(Exception):
    """The campaign was settled and its content expired: this is a leftover copy of a message already handled."""


class ContentMissing(Exception):
    """The campaign still waits for this recipient but its content is gone (deleted by hand?)."""


class Campaigns:
    def __init__(self, settings: Settings, client: Any, scripts: Scripts) -> None:
        self.settings = settings
        self.client = client
        self.scripts = scripts
        self.keys = Keys(settings.key_prefix)
        # A redelivered message (a dead worker's, after the visibility timeout) must still find the content.
        self.grace_ms = 2 * settings.visibility_timeout_s * 1000
        self.keep_s = 7 * 86400  # as long as an idempotency record: copies of a settled campaign are recognised
        self._templates = lru_cache(maxsize=64)(self._load)

    def _load(self, sha: str) -> Templates | None:
        body = store.content_body(self.client, self.keys, sha)
        return templates_for(body) if body is not None else None

    def expand(self, wire: dict[str, Any]) -> Message:
        """The whole message of one campaign recipient. Raises InvalidMessage when it cannot be rendered."""
        templates = self._templates(wire["content"])
        if templates is None:
            self._templates.cache_clear()  # never cache an absence: a new campaign may bring the content back
            if not self.client.exists(self.keys.campaign(wire["campaign"])) or self.client.getbit(
                    self.keys.campaign_done(wire["campaign"]), int(wire["seq"])):
                raise ContentGone(wire["campaign"])
            raise ContentMissing(wire["campaign"])
        return recipient_message(templates, wire)

    def release_parts(self, wire: dict[str, Any]) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of one recipient's release (`release.lua`, or settle.lua's tail)."""
        k, campaign_id = self.keys, wire["campaign"]
        return ([k.campaign(campaign_id), k.campaign_done(campaign_id), k.content(wire["content"]), k.campaigns],
                [int(wire["seq"]), campaign_id, self.grace_ms, self.keep_s])

    def release(self, wire: dict[str, Any]) -> int:
        keys, args = self.release_parts(wire)
        return int(self.scripts.release(keys=[self.keys.clock_offset_ms, *keys], args=args))
