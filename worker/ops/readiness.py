"""`ramp setup --check`: is the From domain ready for Gmail's and Yahoo's bulk-sender rules?

Since February 2024 both require, of senders of 5,000+ messages a day: SPF and DKIM passing, a
DMARC record (p=none is enough to start), one-click unsubscribe on bulk mail (ses-ramp adds it) and
a complaint rate under 0.3%. This reads SES's view of the identity (DKIM, custom MAIL FROM) and the
domain's DNS (DMARC, SPF); each line says ok or what to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.resolver
from botocore.exceptions import ClientError

from ses_ramp.config import Settings
from ses_ramp.producers import providers
from ses_ramp.worker.guards.postmaster import Postmaster, PostmasterUnavailable


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str


def resolver_for(settings: Settings) -> dns.resolver.Resolver:
    """The system's resolver, or the `RAMP_DNS_NAMESERVERS` ones (host[:port],...), as the MX lookups use
    them; an operator's check may wait a little longer for an answer."""
    resolver = providers.resolver_for(settings)
    resolver.lifetime = 3.0
    return resolver


def txt_records(resolver: dns.resolver.Resolver, name: str) -> list[str] | None:
    """The TXT strings at `name` ([] when there are none), or None when DNS could not answer."""
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException:
        return None
    return [b"".join(r.strings).decode(errors="replace") for r in answer]


def check_domain(settings: Settings, sesv2: Any, resolver: dns.resolver.Resolver) -> list[Check]:
    address = str(settings.from_address or "")
    domain = address.rpartition("@")[2]
    if not domain:
        return [Check("From domain", False, "set RAMP_FROM_ADDRESS: the checks read its domain")]
    checks: list[Check] = []
    try:
        identity = sesv2.get_email_identity(EmailIdentity=domain)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        why = f"SES has no identity for {domain}: verify the domain in SES" if code == "NotFoundException" else f"SES answered {code}"
        identity = {}
        checks.append(Check("SES identity", False, why))
    else:
        verified = identity.get("VerifiedForSendingStatus") or identity.get("VerificationStatus") == "SUCCESS"
        checks.append(Check("SES identity", bool(verified), f"{domain} verified" if verified else f"{domain} is not verified for sending yet"))
    dkim = identity.get("DkimAttributes", {})
    if identity:
        status = dkim.get("Status", "NOT_STARTED")
        good = status == "SUCCESS" and dkim.get("SigningEnabled", False)
        checks.append(Check("DKIM", good, "signing, status SUCCESS" if good else
                            f"status {status}: publish the CNAME records SES lists for {domain} (Easy DKIM) and enable signing"))
    mail_from = identity.get("MailFromAttributes", {})
    mail_from_domain = mail_from.get("MailFromDomain")
    if identity:
        if not mail_from_domain:
            checks.append(Check("custom MAIL FROM", False, f"none: set one (e.g. mail.{domain}) so SPF aligns with the From domain for DMARC"))
        else:
            status = mail_from.get("MailFromDomainStatus", "PENDING")
            checks.append(Check("custom MAIL FROM", status == "SUCCESS", f"{mail_from_domain}: {status}" if status == "SUCCESS" else
                                f"{mail_from_domain}: {status}: publish its MX (feedback-smtp.<region>.amazonses.com) and SPF records"))
    spf_name = mail_from_domain or domain
    spf = txt_records(resolver, spf_name)
    spf_record = next((r for r in spf or [] if r.lower().startswith("v=spf1")), None)
    if spf is None:
        checks.append(Check("SPF", False, f"DNS did not answer for {spf_name}"))
    elif spf_record is None:
        checks.append(Check("SPF", False, f"no SPF record at {spf_name}: publish \"v=spf1 include:amazonses.com ~all\""))
    elif "include:amazonses.com" not in spf_record.lower():
        checks.append(Check("SPF", False, f"{spf_name}: \"{spf_record}\" does not include amazonses.com"))
    else:
        checks.append(Check("SPF", True, f"{spf_name}: \"{spf_record}\""))
    dmarc = txt_records(resolver, f"_dmarc.{domain}")
    record = next((r for r in dmarc or [] if r.upper().startswith("V=DMARC1")), None)
    if dmarc is None:
        checks.append(Check("DMARC", False, f"DNS did not answer for _dmarc.{domain}"))
    elif record is None:
        checks.append(Check("DMARC", False, f"no DMARC record at _dmarc.{domain}: publish \"v=DMARC1; p=none; rua=mailto:...\" (required by Gmail and Yahoo)"))
    else:
        policy = next((p.split("=", 1)[1].strip() for p in record.split(";") if p.strip().lower().startswith("p=")), "?")
        note = "; p=none only monitors: move to quarantine once reports are clean" if policy == "none" else ""
        checks.append(Check("DMARC", True, f"p={policy}{note}"))
    return checks


def check_postmaster(settings: Settings, api: Callable[[], Postmaster] | None = None) -> list[Check]:
    """Whether Postmaster Tools answers for each sending domain (the google ramp's spam figures)."""
    if not settings.postmaster_credentials:
        return [Check("Postmaster Tools", True, "off (RAMP_POSTMASTER_CREDENTIALS unset): Gmail's spam rate is not read")]
    path = settings.postmaster_credentials
    try:
        client = (api or (lambda: Postmaster.from_credentials(path)))()
    except PostmasterUnavailable as exc:
        return [Check("Postmaster Tools", False, str(exc))]
    out = []
    for domain in settings.postmaster_domain_list:
        try:
            client.access(domain)
        except PostmasterUnavailable as exc:
            out.append(Check(f"Postmaster Tools: {domain}", False, str(exc)))
        else:
            out.append(Check(f"Postmaster Tools: {domain}", True, "these credentials may read its figures"))
    return out
