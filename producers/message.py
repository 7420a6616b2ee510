"""`Message`: one email as an app hands it to ses-ramp, validated before it can reach a queue."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from email.utils import formataddr
from enum import Enum
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from ses_ramp.producers.errors import InvalidMessage

#: SES counts recipients, not messages, and accepts at most 50 per SendEmail call.
MAX_RECIPIENTS = 50
#: SES tag names and values: ASCII letters, digits, underscore and dash, 256 characters at most.
_SES_TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class Kind(str, Enum):
    """Traffic class. Transactional mail (resets, receipts) goes first; bulk fills what is left."""

    transactional = "transactional"
    bulk = "bulk"


def normalise_address(address: str) -> str:
    """Canonical form of an address: whitespace stripped, domain lower-cased (local part kept)."""
    address = address.strip()
    local, sep, domain = address.rpartition("@")
    if not sep:
        return address
    return f"{local}@{domain.lower()}"


def _check_address(value: str) -> str:
    try:
        validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"invalid address {value!r}: {exc}") from None
    return normalise_address(value)


_LIST_NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class ListManagement(BaseModel):
    """SES's own subscription management: SES adds the unsubscribe headers and publishes
    `Subscription` events when a contact opts out (see `guards/events.py`)."""

    model_config = ConfigDict(extra="forbid")

    contact_list: str = Field(..., pattern=r"^[A-Za-z0-9_-]{1,64}$")
    topic: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


class Message(BaseModel):
    """An email to send. `kind` routes it; `engagement` (0..1) orders it within its kind."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    from_address: str | None = Field(None, alias="from")
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    reply_to: list[str] = Field(default_factory=list)
    subject: str = Field(..., min_length=1, max_length=998)
    text: str | None = None
    html: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    #: Bulk mail belongs to a list: its List-Id, its one-click unsubscribe link and its list-scoped suppression.
    list_id: str | None = Field(None, alias="list", pattern=_LIST_NAME)
    list_management: ListManagement | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    kind: Kind = Kind.transactional
    engagement: float = Field(0.5, ge=0.0, le=1.0)
    expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("to", "cc", "bcc", "reply_to", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("to", "cc", "bcc", "reply_to")
    @classmethod
    def _addresses(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.context and info.context.get("trusted"):
            return value  # validated and normalised by the producer that published it
        return [_check_address(v) for v in value]

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or (info.context and info.context.get("trusted")):
            return value
        return _check_address(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, val in value.items():
            if not name or any(c in name for c in ":\r\n ") or any(c in val for c in "\r\n"):
                raise ValueError(f"header {name!r} has a name or value that would break the MIME message")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for name, val in value.items():
            if not _SES_TAG.match(name) or not _SES_TAG.match(val):
                raise ValueError(f"tag {name}={val!r}: SES allows only letters, digits, _ and -")
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a time zone")
        return value

    @model_validator(mode="after")
    def _whole(self) -> Message:
        if self.text is None and self.html is None:
            raise ValueError("body: give text or html (or both)")
        if not self.recipients:
            raise ValueError("to: at least one recipient is needed")
        if len(self.recipients) > MAX_RECIPIENTS:
            raise ValueError(f"to: {len(self.recipients)} recipients; SES allows at most {MAX_RECIPIENTS} (to+cc+bcc)")
        if self.kind is Kind.transactional and (self.list_id or self.list_management):
            raise ValueError("list: only bulk mail belongs to a list; transactional mail carries no unsubscribe headers")
        own = {"list-unsubscribe", "list-unsubscribe-post"} <= {name.lower() for name in self.headers}
        if self.kind is Kind.bulk and self.list_id and not self.list_management and not own:
            if len(self.to) != 1 or self.cc or self.bcc:
                raise ValueError("to: a bulk message with a list goes to exactly one recipient (its unsubscribe link is theirs)")
        if self.idempotency_key is None:
            self.idempotency_key = self.id
        return self

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]

    @property
    def recipient_count(self) -> int:
        """What SES charges against the quota for this message."""
        return len(self.recipients)

    def formatted_from(self) -> str:
        return formataddr(("", self.from_address or ""))

    @classmethod
    def parse(cls, data: Any) -> Message:
        """Validate `data` (dict or Message); raise `InvalidMessage` naming the first bad field."""
        if isinstance(data, Message):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_from(exc) from None

    @classmethod
    def from_wire(cls, data: Any) -> Message:
        """Rebuild a message a producer published. Structure and limits are checked again; the
        address syntax check (the costly part) is not: SES refuses a bad address permanently anyway.

        Forward compatible: fields this version does not know (a newer producer's, during a rolling
        deploy) are ignored here, while `parse` still refuses them from an app. A new field must
        therefore be safe to ignore; one that is not needs a new task name (see `wire.py`)."""
        if isinstance(data, dict) and not data.keys() <= _WIRE_FIELDS:
            data = {k: v for k, v in data.items() if k in _WIRE_FIELDS}
        try:
            return cls.model_validate(data, context={"trusted": True})
        except ValidationError as exc:
            raise invalid_from(exc) from None

    def to_wire(self) -> dict[str, Any]:
        """JSON-safe dict: what travels in the Celery message."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def message_schema() -> dict[str, Any]:
    """The JSON Schema of what an app hands `enqueue` (`ramp enqueue --schema`); `id` and
    `created_at` are filled in when absent."""
    schema = Message.model_json_schema(by_alias=True, mode="validation")
    props = schema["properties"]
    for name in ("to", "cc", "bcc", "reply_to"):  # say what the validator checks: addresses
        props[name]["items"]["format"] = "email"
    for branch in props["from"].get("anyOf", []):
        if branch.get("type") == "string":
            branch["format"] = "email"
    props["tags"]["propertyNames"] = {"pattern": _SES_TAG.pattern}
    props["tags"]["additionalProperties"] = {"type": "string", "pattern": _SES_TAG.pattern}
    schema["anyOf"] = [{"required": ["text"]}, {"required": ["html"]}]  # a body: text, html or both
    schema["title"] = "ses-ramp message"
    schema["description"] = (Message.__doc__ or "").strip()
    return schema


#: Every name a wire message may carry (field names and their aliases).
_WIRE_FIELDS = frozenset(name for field_name, f in Message.model_fields.items() for name in (field_name, f.alias) if name)


def invalid_from(exc: ValidationError) -> InvalidMessage:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
    msg = err["msg"].removeprefix("Value error, ")
    field = loc[0] if loc else msg.split(":", 1)[0]
    if not loc and ":" in msg:
        msg = msg.split(":", 1)[1].strip()
    return InvalidMessage(field, msg)
