"""The dashboard's operator: a token of RAMP_DASHBOARD_TOKEN_SHA256 (configured as digests, never in clear, and
distinct from the ingest tokens), kept after sign-in in an HttpOnly, SameSite=Strict cookie scoped to /dashboard.

Every control is a POST that must also carry the page's CSRF token (an HMAC of the operator's token, so a page
of another site can neither read nor forge it) and, when the browser sends one, an Origin of this host: a
cross-site form post is refused even though the browser would attach the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import Request

COOKIE = "ramp_operator"
NAME_COOKIE = "ramp_operator_name"
PATH = "/dashboard"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Operators:
    def __init__(self, digests: str | None) -> None:
        self.digests = [d for d in (digests or "").split(",") if d]

    def accepts(self, token: str | None) -> bool:
        if not token:
            return False
        found = digest(token)
        return any([hmac.compare_digest(found, d) for d in self.digests])  # every one compared: the time says nothing

    def token_of(self, request: Request) -> str | None:
        """The operator token the request carries (the cookie, or `Authorization: Bearer`), if it is accepted."""
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        token = bearer.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE)
        return token if self.accepts(token) else None


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), b"ses-ramp dashboard csrf", hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """No Origin (a non-browser client, or an old browser's same-origin POST), or one naming this host."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")  # "null" (a sandboxed frame) names no host


def csrf_ok(request: Request, token: str, sent: str | None) -> bool:
    return same_origin(request) and sent is not None and hmac.compare_digest(sent, csrf_for(token))
