"""Addresses as apps give them, turned into what SES and MIME need.

An app may give `"Zoë Ünal <zoe@bücher.de>"`, `{"name": "Zoë Ünal", "address": "zoe@bücher.de"}` or a bare
address. ses-ramp keeps the bare address (what suppression, idempotency and the recipient count use)
with its domain in IDNA (punycode) form, and the display name beside it; the MIME writer encodes a
name in any script per RFC 2047. A non-ASCII local part (`josé@example.com`) needs SMTPUTF8, which
Amazon SES does not offer: it is refused at enqueue with that reason, not dead-lettered later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email


@dataclass(frozen=True)
class Named:
    address: str
    name: str | None = None


def ascii_address(value: str) -> str:
    """The address SES takes: the local part as given (case kept), the domain lower-cased in IDNA form."""
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"invalid address {value!r}: {exc}") from None
    if checked.ascii_email is None:
        raise ValueError(f"{value!r} has a non-ASCII local part: that needs SMTPUTF8, which Amazon SES does not accept; "
                         "use an ASCII address (an internationalised domain is fine)")
    return f"{checked.local_part}@{(checked.ascii_domain or '').lower()}"


#: An unquoted ASCII dot-atom local part (RFC 5322 atext, no leading, trailing or doubled dot): the form
#: almost every list address has, and one email-validator accepts as is.
_PLAIN_LOCAL = re.compile(r"\A[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


@lru_cache(maxsize=65536)
def _ascii_domain(domain: str) -> str:
    """A domain as `ascii_address` gives it (raises ValueError as it does); cached: a list has few domains."""
    return ascii_address(f"a@{domain}").rpartition("@")[2]


def list_address(value: str) -> str:
    """`ascii_address` for the addresses of a long list (a campaign of a million): a plain local part is
    checked by pattern and its domain once per domain, 15x faster; anything else takes the full check.
    `test_addresses.py` holds the two to the same answers."""
    value = value.strip()
    local, sep, domain = value.rpartition("@")
    if sep and len(local) <= 64 and len(value) <= 254 and _PLAIN_LOCAL.match(local):
        try:
            return f"{local}@{_ascii_domain(domain)}"
        except ValueError:
            pass  # the full check names the problem with the whole address
    return ascii_address(value)


def parse_named(value: Any) -> Named:
    """One address in any of the accepted forms; raise ValueError naming what is wrong."""
    if isinstance(value, dict):
        unknown = set(value) - {"name", "address"}
        if unknown:
            raise ValueError(f"an address object takes name and address, not {', '.join(sorted(unknown))}")
        name, raw = value.get("name"), value.get("address")
        if not isinstance(raw, str):
            raise ValueError("an address object needs an address")
        if name is not None and not isinstance(name, str):
            raise ValueError("a display name is text")
    elif isinstance(value, str):
        if "\r" in value or "\n" in value:
            raise ValueError(f"{value!r} has a line break")
        if "<" in value:
            name, raw = parseaddr(value)
            if not raw or "@" not in raw:
                raise ValueError(f"cannot read an address in {value!r}")
        else:
            name, raw = None, value
    else:
        raise ValueError(f"an address is text or {{name, address}}, not {type(value).__name__}")
    name = (name or "").strip() or None
    if name and any(c in name for c in "\r\n"):
        raise ValueError(f"display name {name!r} has a line break")
    return Named(ascii_address(raw), name)


def format_named(address: str, name: str | None) -> str:
    """`Name <address>` for a header, the name RFC 2047-encoded when it is not ASCII."""
    return formataddr((name or "", address), charset="utf-8")
