"""A campaign's content: one subject, text and HTML with per-recipient fields (`{{ first_name }}`),
stored once under its hash, and rendered for each recipient in a sandbox (jinja2's
`ImmutableSandboxedEnvironment`: a template cannot reach Python objects or change its data).

Every name a template uses must be in every recipient's data (`email` and `name` always are): a
missing field is refused at enqueue, never found by the worker weeks later. HTML output is escaped
(a merge field cannot inject markup); subject and text are not. Headers and tags are not templates.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ses_ramp.producers.errors import InvalidMessage
from ses_ramp.producers.message import Kind, ListManagement, Message, invalid_from

#: Names every recipient has: its address and its display name ("" when it has none).
ALWAYS = frozenset({"email", "name"})
_TEMPLATED = ("subject", "text", "html")


class CampaignContent(BaseModel):
    """What every recipient of a campaign shares. `subject`, `text` and `html` are templates."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_address: str | None = Field(None, alias="from")
    from_name: str | None = Field(None, max_length=200)
    reply_to: list[str] = Field(default_factory=list)
    #: Display names of the Reply-To addresses, by address (filled in at enqueue from `Name <addr>` forms).
    names: dict[str, str] = Field(default_factory=dict)
    subject: str = Field(..., min_length=1, max_length=998)
    text: str | None = None
    html: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    list_id: str | None = Field(None, alias="list")
    list_management: ListManagement | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    kind: Kind = Kind.bulk
    expires_at: datetime | None = None

    @classmethod
    def parse(cls, data: Any) -> CampaignContent:
        if isinstance(data, CampaignContent):
            return data
        try:
            content = cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_from(exc) from None
        if content.text is None and content.html is None:
            raise InvalidMessage("body", "give text or html (or both)")
        return content

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): the same content always has the same hash."""
        return json.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True, separators=(",", ":"))

    def sha(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:32]


_plain = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_html = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)


class Templates:
    """The compiled templates of one content (compile once, render per recipient)."""

    def __init__(self, content: CampaignContent) -> None:
        self.content = content
        self.sources = {f: getattr(content, f) for f in _TEMPLATED if getattr(content, f) is not None}
        self.compiled = {}
        names: set[str] = set()
        for field, source in self.sources.items():
            env = _html if field == "html" else _plain
            try:
                names |= meta.find_undeclared_variables(env.parse(source))
                self.compiled[field] = env.from_string(source)
            except TemplateError as exc:
                raise InvalidMessage(field, f"template error: {exc}") from None
        #: Every name the templates use that a recipient must give.
        self.fields = frozenset(names - ALWAYS)

    def missing(self, merge: dict[str, Any]) -> list[str]:
        return sorted(self.fields - merge.keys()) if self.fields else []

    def render(self, email: str, name: str | None, merge: dict[str, Any]) -> dict[str, str]:
        """subject, text and html for one recipient; InvalidMessage naming the field on an error."""
        data = {**merge, "email": email, "name": name or ""}
        out = {}
        for field, template in self.compiled.items():
            try:
                out[field] = template.render(data)
            except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
                raise InvalidMessage(field, f"cannot render for {email}: {exc}") from None
        if "subject" in out and any(c in out["subject"] for c in "\r\n"):
            out["subject"] = " ".join(out["subject"].split())  # a merge field must not break the header
        return out


@lru_cache(maxsize=64)
def templates_for(body: str) -> Templates:
    """Compiled templates of a stored content body (the worker's cache: content never changes under its hash)."""
    return Templates(CampaignContent.parse(json.loads(body)))


def recipient_message(templates: Templates, wire: dict[str, Any], trusted: bool = True) -> Message:
    """The whole message one campaign recipient gets (`wire` is its campaign message, see `wire.py`)."""
    content = templates.content
    address = wire["to"][0]
    name = wire.get("name") or None
    rendered = templates.render(address, name, wire.get("merge") or {})
    data = {
        **content.model_dump(by_alias=True, exclude_none=True, exclude=set(_TEMPLATED)),
        **rendered,
        "id": wire["id"],
        "idempotency_key": idempotency_key(wire["campaign"], int(wire["seq"])),
        "to": [address],
        "names": {**content.names, **({address: name} if name else {})},
        "engagement": wire.get("engagement", 0.5),
        "kind": wire.get("kind", content.kind.value),
        **({"created_at": wire["created_at"]} if wire.get("created_at") else {}),
        # A probe's sample carries its campaign in an SES tag: its events come back with it (`config/probe.py`).
        **({"tags": {**content.tags, PROBE_TAG: wire["campaign"]}} if wire.get("probe") else {}),
    }
    if trusted:
        return Message.from_wire(data)
    return Message.parse(data)


#: The SES message tag naming the campaign whose probe sample a message belongs to.
PROBE_TAG = "ses-ramp-probe"


def idempotency_key(campaign_id: str, seq: int) -> str:
    return f"campaign:{campaign_id}:{seq}"
