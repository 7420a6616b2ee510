"""Bearer tokens for the ingest API, configured as SHA-256 digests (`RAMP_SERVE_TOKEN_SHA256`): the
service never holds a token in clear, so neither its settings nor its logs can leak one."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request

from ses_ramp.config import Settings


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class BearerCheck:
    def __init__(self, settings: Settings) -> None:
        self.digests = [d for d in (settings.serve_token_sha256 or "").split(",") if d]

    def __call__(self, request: Request) -> None:
        """401 without a bearer token, 403 with one that is not configured."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        digest = token_digest(token.strip())
        # Compare against every digest: the time taken does not say which one, or how close it came.
        if not any([hmac.compare_digest(digest, d) for d in self.digests]):
            raise HTTPException(403, "this token is not accepted")
