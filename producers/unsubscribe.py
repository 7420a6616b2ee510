"""RFC 8058 one-click unsubscribe: signed per-recipient, per-list tokens and the headers that carry them.

Gmail and Yahoo require, of senders of 5,000+ messages a day, that bulk mail carry both
`List-Unsubscribe` (an https URL) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, and that
a POST to that URL unsubscribes at once. The token in the URL names the recipient and the list,
signed with `RAMP_UNSUBSCRIBE_SECRET` (itsdangerous, HMAC-SHA1 over a timestamped payload): a forged,
tampered or expired token is refused, and nothing else is needed to honour it (no lookup table).
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from ses_ramp.config import Settings
from ses_ramp.producers.message import Message, normalise_address

SALT = "ses-ramp/unsubscribe/v1"
ONE_CLICK = "List-Unsubscribe=One-Click"


class BadToken(ValueError):
    """An unsubscribe token that is forged, tampered with, malformed or expired."""


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_token(secret: str, address: str, list_id: str) -> str:
    return str(_serializer(secret).dumps({"a": normalise_address(address), "l": list_id}))


def read_token(secret: str, token: str, max_age_s: int) -> tuple[str, str]:
    """(address, list) a genuine, unexpired token names; raise `BadToken` otherwise."""
    try:
        data: Any = _serializer(secret).loads(token, max_age=max_age_s)
        return str(data["a"]), str(data["l"])
    except (BadData, KeyError, TypeError) as exc:
        raise BadToken(type(exc).__name__) from None


def has_own_headers(message: Message) -> bool:
    """The app supplied both RFC 8058 headers itself (then ses-ramp adds none)."""
    names = {name.lower() for name in message.headers}
    return {"list-unsubscribe", "list-unsubscribe-post"} <= names


def needs_route(message: Message) -> bool:
    """Bulk mail whose one-click route ses-ramp provides (not the app's own, not SES's list management)."""
    return message.kind.value == "bulk" and message.list_management is None and not has_own_headers(message)


def headers_for(settings: Settings, message: Message) -> dict[str, str]:
    """The List-Id and RFC 8058 headers of a bulk message with a list; none for any other message."""
    if not needs_route(message) or message.list_id is None:
        return {}
    if settings.unsubscribe_base_url is None or settings.unsubscribe_secret is None:
        raise ValueError("one-click unsubscribe needs RAMP_UNSUBSCRIBE_BASE_URL and RAMP_UNSUBSCRIBE_SECRET")
    token = make_token(settings.unsubscribe_secret.get_secret_value(), message.to[0], message.list_id)
    routes = [f"<{settings.unsubscribe_base_url.rstrip('/')}/u/{token}>"]
    if settings.unsubscribe_mailto:
        routes.append(f"<mailto:{settings.unsubscribe_mailto}?subject=unsubscribe%20{token}>")
    domain = (message.from_address or "").rpartition("@")[2] or "localhost"
    return {
        "List-Id": f"<{message.list_id}.{domain}>",
        "List-Unsubscribe": ", ".join(routes),
        "List-Unsubscribe-Post": ONE_CLICK,
    }


def suppression_lists(message: Message) -> list[str]:
    """The list-scoped suppression sets that apply to `message` (see `keys.unsubscribed`)."""
    if message.list_management is not None:
        lm = message.list_management
        return [lm.contact_list, f"{lm.contact_list}/{lm.topic}"] if lm.topic else [lm.contact_list]
    return [message.list_id] if message.list_id else []
