"""`ramp worker`'s preflight: can this worker send at all, as configured? One line per problem.

A worker that cannot send would otherwise start normally and fail every message; with the run-time
classifier those failures pause the fleet (never dead-letter), but an operator wants the reason at
start: no credentials, a wrong region or endpoint, an unknown configuration set, an unverified From
identity, or SMTP that refuses to connect, to STARTTLS or to log in.
"""

from __future__ import annotations

import smtplib
import ssl
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys
from ses_ramp.worker.ops import ses_warmup

#: What a proxy or an emulator (moto) says for a call it does not implement: not a misconfiguration.
_NOT_IMPLEMENTED = {"NotImplemented", "NotImplementedException", "404"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def check_ses_api(settings: Settings, client: Any) -> list[str]:
    where = f"SES in {settings.ses_region}" + (f" at {settings.ses_endpoint_url}" if settings.ses_endpoint_url else "")
    try:
        client.get_account()
    except (NoCredentialsError, PartialCredentialsError):
        return ["no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or give the host an instance role)"]
    except ClientError as exc:
        if _code(exc) not in _NOT_IMPLEMENTED:
            return [f"{where} refused GetAccount: {_code(exc)}: {exc.response.get('Error', {}).get('Message', '')}"]
    except BotoCoreError as exc:
        return [f"{where} unreachable: {exc} (check RAMP_SES_REGION / RAMP_SES_ENDPOINT_URL)"]
    problems = []
    try:
        client.get_configuration_set(ConfigurationSetName=settings.configuration_set)
    except ClientError as exc:
        if _code(exc) in {"NotFoundException", "ConfigurationSetDoesNotExistException"}:
            problems.append(f"configuration set {settings.configuration_set!r} does not exist in {settings.ses_region}: run `ramp setup`")
        elif _code(exc) not in _NOT_IMPLEMENTED:
            problems.append(f"reading configuration set {settings.configuration_set!r}: {_code(exc)}")
    if settings.from_address:
        problems += _identity_problems(str(settings.from_address), client)
    return problems


def _identity_problems(address: str, client: Any) -> list[str]:
    """The From address is sendable if it, or its domain, is a verified SES identity."""
    for identity in (address, address.rpartition("@")[2]):
        try:
            answer = client.get_email_identity(EmailIdentity=identity)
        except ClientError as exc:
            if _code(exc) in _NOT_IMPLEMENTED:
                return []
            continue
        if answer.get("VerifiedForSendingStatus") or answer.get("VerificationStatus") == "SUCCESS":
            return []
    return [f"the From identity {address} (or its domain) is not verified in SES: verify it, or set RAMP_FROM_ADDRESS"]


def check_smtp(settings: Settings) -> list[str]:
    host = settings.smtp_host or f"email-smtp.{settings.ses_region}.amazonaws.com"
    try:
        with smtplib.SMTP(host, settings.smtp_port, timeout=settings.ses_timeout_s) as smtp:
            smtp.ehlo()
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=settings.smtp_ca_file))
                smtp.ehlo()
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    except smtplib.SMTPAuthenticationError as exc:
        return [f"SES SMTP at {host}:{settings.smtp_port} refused the credentials ({exc.smtp_code}): check RAMP_SMTP_USERNAME/RAMP_SMTP_PASSWORD"]
    except ssl.SSLError as exc:
        return [f"STARTTLS with {host}:{settings.smtp_port} failed: {exc}"]
    except (smtplib.SMTPException, OSError) as exc:
        return [f"SES SMTP at {host}:{settings.smtp_port} unreachable: {exc}"]
    return []


def preflight(settings: Settings) -> list[str]:
    """Every problem that stops this worker from sending, as one line each ([] when it can send)."""
    if settings.transport == "ses-api":
        from ses_ramp.worker.send.transports.ses_api import ses_client

        return check_ses_api(settings, ses_client(settings))
    if settings.transport == "ses-smtp":
        return check_smtp(settings)
    return []


def ses_warmup_notes(settings: Settings, client: Any, redis_client: Any, keys: Keys, now_ms: int) -> tuple[list[str], list[str]]:
    """SES's own warm-up at worker start: (problems, warnings). A MANAGED pool is a problem; SES's
    automatic warm-up on is a warning (the operator decides). What was read is kept for `ramp status`."""
    try:
        found = ses_warmup.read(client, settings.dedicated_ip_pool)
    except (ClientError, BotoCoreError) as exc:
        return [], [f"could not read SES's own warm-up ({exc}); `ramp status` will not show it"]
    ses_warmup.store(redis_client, keys, found, now_ms)
    notes = ses_warmup.findings(found)
    return [line for level, line in notes if level == "refuse"], [line for level, line in notes if level == "warn"]
