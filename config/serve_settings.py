"""`ramp serve`'s settings (the HTTP door and the dashboard): a half of `Settings` (settings.py), which
inherits them; build that, never this alone."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAMP_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      populate_by_name=True, env_ignore_empty=True)

    # --- `ramp serve`: the HTTP door -----------------------------------------------------------------
    serve_host: str = Field("127.0.0.1", min_length=1, description="Address `ramp serve` listens on (0.0.0.0 in a container).")
    serve_port: int = Field(8025, ge=1, le=65535, description="Port `ramp serve` listens on.")
    serve_token_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}(,[0-9a-f]{64})*$",
        description="Comma-separated SHA-256 hex digests of the bearer tokens `POST /v1/messages` and `GET /v1/status` accept "
        "(tokens are configured as hashes, never in clear).",
    )
    serve_max_body_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="Largest request body `ramp serve` reads (larger: 413)."
    )
    serve_max_batch: int = Field(500, ge=1, le=5000, description="Most messages in one `POST /v1/messages` (more: 413).")
    serve_max_campaign_bytes: int = Field(128 * 1024 * 1024, ge=1024, description="Largest `POST /v1/campaigns` body, JSON or CSV "
                                          "upload (larger: 413); 128 MiB holds a million recipients' CSV rows with room to spare.")
    dashboard_token_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}(,[0-9a-f]{64})*$",
        description="Comma-separated SHA-256 hex digests of the operator tokens the dashboard (`/dashboard`) accepts: distinct "
        "from the ingest tokens, they may pause, resume and reset the breaker. Unset: `ramp serve` has no dashboard.")
