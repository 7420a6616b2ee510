"""`Message`: one email as an app hands it to ses-ramp, validated before it can reach a queue."""

from __future__ import annotations

import re
import typing
import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from ses_ramp.producers.addresses import format_named, parse_named
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
    """Canonical form of an address for suppression and unsubscription: whitespace stripped, the whole
    address lower-cased. RFC 5321 lets a server treat local parts case-sensitively, but no mailbox
    provider does: `Ana@` and `ana@` are one person, and one who unsubscribed must get no mail."""
    return address.strip().lower()


_ADDRESS_FIELDS = ("to", "cc", "bcc", "reply_to")


#: Characters no header value may hold: each would end the header (injection) or break the message.
_BREAKING = ("\r", "\n", "\0")

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
    from_name: str | None = Field(None, max_length=200)
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
    #: Display names of recipients and Reply-To addresses, by bare address.
    names: dict[str, str] = Field(default_factory=dict)
    kind: Kind = Kind.transactional
    engagement: float = Field(0.5, ge=0.0, le=1.0)
    expires_at: datetime | None = None
    #: Accept a bulk message even when the forecast says it goes out after `expires_at` (counted).
    expire_ok: bool = False
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="before")
    @classmethod
    def _named_addresses(cls, data: Any, info: ValidationInfo) -> Any:
        """Split `Name <addr>` and {name, address} into bare addresses and their names. A message
        from the wire is already split (and validated by the producer that published it)."""
        if not isinstance(data, dict) or (info.context and info.context.get("trusted")):
            return data
        data = dict(data)
        names: dict[str, str] = {}
        for field in _ADDRESS_FIELDS:
            items = data.get(field)
            if items is None:
                continue
            if isinstance(items, str | dict):
                items = [items]
            if not isinstance(items, list):
                continue  # the field's own type check names the problem
            parsed = []
            for item in items:
                try:
                    named = parse_named(item)
                except ValueError as exc:
                    raise ValueError(f"{field}: {exc}") from None
                parsed.append(named.address)
                if named.name:
                    names[named.address] = named.name
            data[field] = parsed
        if names:
            data["names"] = {**names, **(data.get("names") or {})}
        raw_from = data.get("from", data.get("from_address"))
        if raw_from is not None:
            try:
                named = parse_named(raw_from)
            except ValueError as exc:
                raise ValueError(f"from: {exc}") from None
            data.pop("from_address", None)
            data["from"] = named.address
            if named.name and not data.get("from_name"):
                data["from_name"] = named.name
        return data

    @field_validator("names")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for address, name in value.items():
            if any(c in name for c in "\r\n"):
                raise ValueError(f"display name of {address} has a line break")
        return value

    @field_validator("from_name")
    @classmethod
    def _from_name(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in _BREAKING):
            raise ValueError("the From name has a line break or NUL")
        return value

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if any(c in value for c in _BREAKING):  # a CR or LF would start a header of the sender's choosing
            raise ValueError("the subject has a line break or NUL (CR, LF and NUL are refused in header values)")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, val in value.items():
            if not name or any(c in name for c in ":\r\n\0 ") or any(c in val for c in _BREAKING):
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
        return format_named(self.from_address or "", self.from_name)

    def formatted(self, address: str) -> str:
        """`address` with its display name, ready for a To/Cc/Reply-To header."""
        return format_named(address, self.names.get(address))

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
        data = known_fields(cls, data)
        try:
            return cls.model_validate(data, context={"trusted": True})
        except ValidationError as exc:
            raise invalid_from(exc) from None

    def to_wire(self) -> dict[str, Any]:
        """JSON-safe dict: what travels in the Celery message."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"expire_ok"})


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
    # What the validator requires beyond each field: a body (text, html or both) and a recipient.
    nonempty = {"type": "array", "minItems": 1}
    schema["allOf"] = [
        {"anyOf": [{"required": ["text"]}, {"required": ["html"]}]},
        {"anyOf": [{"required": [f], "properties": {f: nonempty}} for f in ("to", "cc", "bcc")]},
    ]
    schema["title"] = "ses-ramp message"
    schema["description"] = (Message.__doc__ or "").strip()
    return schema


def known_fields(model: type[BaseModel], data: Any) -> Any:
    """`data` without the keys `model` does not know, at every level (nested models, lists and
    optionals of them): what a worker reads from the wire, tolerant of a newer producer's fields."""
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for field_name, f in model.model_fields.items():
        for name in (f.alias, field_name):
            if name and name in data:
                out[name] = _known_value(f.annotation, data[name])
                break
    return out


def _known_value(annotation: Any, value: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return known_fields(annotation, value)
    args = typing.get_args(annotation)
    models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
    if isinstance(value, dict) and len(models) == 1:  # Optional[Model], Model | None
        return known_fields(models[0], value)
    if isinstance(value, list) and typing.get_origin(annotation) in (list, tuple) and len(models) == 1:
        return [known_fields(models[0], v) for v in value]
    return value


def invalid_from(exc: ValidationError) -> InvalidMessage:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
    msg = err["msg"].removeprefix("Value error, ")
    field = loc[0] if loc else msg.split(":", 1)[0]
    if not loc and ":" in msg:
        msg = msg.split(":", 1)[1].strip()
    return InvalidMessage(field, msg)
