"""Transports: one interface in front of SES. `make_transport(settings)` picks one by RAMP_TRANSPORT."""

from __future__ import annotations

from ses_ramp.config import Settings
from ses_ramp.worker.send.transports.base import Transport


def make_transport(settings: Settings) -> Transport:
    if settings.transport == "ses-api":
        from ses_ramp.worker.send.transports.ses_api import SesApiTransport

        return SesApiTransport(settings)
    if settings.transport == "ses-smtp":
        from ses_ramp.worker.send.transports.ses_smtp import SesSmtpTransport

        return SesSmtpTransport(settings)
    if settings.transport == "noop":
        from ses_ramp.worker.send.transports.noop import NoopTransport

        return NoopTransport()
    raise ValueError(f"RAMP_TRANSPORT={settings.transport!r} is not a transport")


__all__ = ["Transport", "make_transport"]
