"""Mailbox providers: which one judges the IP for a recipient (`google`, `microsoft`, `yahoo`,
`apple`, or `other`). Each keeps its own reputation for a sending IP and throttles it on its own.

A domain is known from a built-in table (the providers' own consumer domains) extended by
`RAMP_PROVIDER_DOMAINS`; any other domain by its MX records (a company's mail hosted at Google or
Microsoft), looked up with dnspython and cached in Redis for the record's TTL. No send, enqueue or
event waits on DNS: a domain nobody has looked up yet counts as `other` and is noted in the
`provider_pending` set, which a fleet duty (`Classifier.resolve_pending`, in every worker and in
`ramp beat`) resolves within a second or two. A domain DNS cannot answer for within `LOOKUP_S` is
`other`, cached briefly so it is asked again.

A domain that accepts no mail at all is cached as `NOMAIL`: a null MX (RFC 7505: one MX record of
preference 0 and host "."), no such domain, or no MX and no address record (RFC 5321's implicit MX). Its
recipients are left out of a campaign at enqueue (counted, like suppressed ones) and judge nothing: as a
provider it reads as `other`. A DNS failure never makes a domain `NOMAIL`: it is `other`, asked again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dns.exception
import dns.resolver
from cachetools import TTLCache

from ses_ramp.config import Settings
from ses_ramp.config.keys import Keys

LOOKUP_S = 2.0
#: The cached answer for a domain that accepts no mail (never a provider: it reads as `other`).
NOMAIL = "nomail"
#: Domains one process remembers (the most recently met beyond that are kept): ~100 B each.
MEMORY_DOMAINS = 100_000
#: A domain Redis had no provider for yet is asked again after this long (the fleet duty looks it up).
PENDING_RECHECK_S = 5.0
#: How long an answer is kept: the MX record's TTL within these bounds; a failed lookup, FAILED_TTL_S.
MIN_TTL_S, MAX_TTL_S, FAILED_TTL_S = 300, 86_400, 300

_DOMAINS = {
    **dict.fromkeys(("gmail.com", "googlemail.com"), "google"),
    **dict.fromkeys(("outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com", "windowslive.com"), "microsoft"),
    **dict.fromkeys(("yahoo.com", "ymail.com", "rocketmail.com", "aol.com", "aim.com", "verizon.net", "att.net"), "yahoo"),
    **dict.fromkeys(("icloud.com", "me.com", "mac.com"), "apple"),
}
#: Country variants: hotmail.co.uk, live.fr, yahoo.co.jp, outlook.de ...
_FIRST_LABEL = {"hotmail": "microsoft", "live": "microsoft", "outlook": "microsoft", "yahoo": "yahoo", "ymail": "yahoo"}
#: MX host suffixes of each provider's hosted mail.
_MX_SUFFIXES = (
    ("google", ("google.com", "googlemail.com")),
    ("microsoft", ("protection.outlook.com", "outlook.com", "hotmail.com")),
    ("yahoo", ("yahoodns.net", "yahoo.com", "aol.com")),
    ("apple", ("icloud.com", "me.com", "apple.com")),
)


def from_table(domain: str, extra: dict[str, str] | None = None) -> str | None:
    """The provider a domain's name alone says, or None (look at its MX)."""
    domain = domain.lower().rstrip(".")
    if extra and domain in extra:
        return extra[domain]
    if domain in _DOMAINS:
        return _DOMAINS[domain]
    first, _, rest = domain.partition(".")
    if first in _FIRST_LABEL and rest and len(rest) <= 6:  # a country variant (co.uk, fr, com.br), not hotmail.example.org
        return _FIRST_LABEL[first]
    return None


def from_mx(hosts: Iterable[str]) -> str:
    """The provider whose server the most preferred MX host is (hosts in preference order), else `other`:
    a domain whose first MX is its own gateway is judged at that gateway, not at its backup."""
    for host in hosts:
        host = host.lower().rstrip(".")
        for provider, suffixes in _MX_SUFFIXES:
            if any(host == s or host.endswith("." + s) for s in suffixes):
                return provider
        return "other"
    return "other"


def provider_of(address: str, known: dict[str, str]) -> str:
    """The provider of one address, given `known` domain -> provider (from `Classifier.domains`)."""
    return known.get(address.rpartition("@")[2].lower(), "other")


def resolver_for(settings: Settings) -> dns.resolver.Resolver:
    """The system's resolver, or the `RAMP_DNS_NAMESERVERS` ones (host[:port],...)."""
    if not settings.dns_nameservers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        servers = [s.strip().rsplit(":", 1) if ":" in s else [s.strip(), "53"] for s in settings.dns_nameservers.split(",") if s.strip()]
        resolver.nameservers = [host for host, _ in servers]
        resolver.port = int(servers[0][1])
    resolver.lifetime = LOOKUP_S
    return resolver


class Classifier:
    """Domain -> provider for one process: the table, then Redis's cache, then DNS (in parallel)."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self.extra: dict[str, str] = {d.lower(): p for d, p in settings.provider_domains.items()}
        self.client = client
        self.keys = Keys(settings.key_prefix)
        self.resolver = resolver_for(settings)
        self._busy: Any = None

    def domains(self, domains: Iterable[str]) -> dict[str, str]:
        """The provider of each domain. One Redis round trip for those the table does not know, and
        DNS only for those Redis has not seen (or has forgotten)."""
        out: dict[str, str] = {}
        unknown: list[str] = []
        for domain in {d.lower().rstrip(".") for d in domains}:
            found = from_table(domain, self.extra)
            if found:
                out[domain] = found
            else:
                unknown.append(domain)
        if not unknown:
            return out
        cached = self.client.mget([self.keys.provider(d) for d in unknown])
        missing = [d for d, hit in zip(unknown, cached) if hit is None]
        out.update({d: (hit.decode() if isinstance(hit, bytes) else hit) for d, hit in zip(unknown, cached) if hit is not None})
        if missing:
            with ThreadPoolExecutor(max_workers=min(16, len(missing))) as pool:
                looked = list(pool.map(self._lookup, missing))
            with self.client.pipeline(transaction=False) as pipe:
                for domain, (provider, ttl_s) in zip(missing, looked):
                    pipe.set(self.keys.provider(domain), provider, ex=ttl_s)
                    out[domain] = provider
                pipe.execute()
        return out

    def resolve_pending_in_background(self, limit: int = 200) -> bool:
        """Start `resolve_pending` on this classifier's own thread unless a batch is still running
        (the fleet duty: a slow resolver must never hold up the mover or the feeder)."""
        import threading

        if self._busy is not None and self._busy.is_alive():
            return False
        self._busy = threading.Thread(target=self._resolve_quietly, args=(limit,), name="ses-ramp-mx", daemon=True)
        self._busy.start()
        return True

    def _resolve_quietly(self, limit: int) -> None:
        try:
            self.resolve_pending(limit)
        except Exception:  # noqa: BLE001 - Redis away: the domains stay pending for the next pass
            pass

    def resolve_pending(self, limit: int = 200) -> int:
        """Look up the domains `Known` noted; returns how many were resolved."""
        domains = [d.decode() if isinstance(d, bytes) else d for d in self.client.srandmember(self.keys.provider_pending, limit)]
        if not domains:
            return 0
        self.domains(domains)
        self.client.srem(self.keys.provider_pending, *domains)
        return len(domains)

    def _lookup(self, domain: str) -> tuple[str, int]:
        """(provider, seconds to keep the answer) from the domain's MX records."""
        try:
            answer = self.resolver.resolve(domain, "MX")
        except dns.resolver.NXDOMAIN:
            return NOMAIL, MIN_TTL_S  # no such domain
        except dns.resolver.NoAnswer:
            return self._implicit_mx(domain)
        except dns.exception.DNSException:
            return "other", FAILED_TTL_S
        records = sorted(answer, key=lambda r: r.preference)
        ttl_s = min(MAX_TTL_S, max(MIN_TTL_S, int(answer.rrset.ttl if answer.rrset is not None else MIN_TTL_S)))
        if len(records) == 1 and records[0].preference == 0 and str(records[0].exchange) in (".", ""):
            return NOMAIL, ttl_s  # RFC 7505's null MX: the domain says it accepts no mail
        return from_mx([str(r.exchange) for r in records]), ttl_s

    def _implicit_mx(self, domain: str) -> tuple[str, int]:
        """No MX: mail goes to the domain's own address record (RFC 5321 5.1), or nowhere without one."""
        for rdtype in ("A", "AAAA"):
            try:
                self.resolver.resolve(domain, rdtype)
                return "other", MIN_TTL_S
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except dns.exception.DNSException:
                return "other", FAILED_TTL_S
        return NOMAIL, MIN_TTL_S


class Known:
    """Domain -> provider where a lookup must never wait on DNS (a send, an SES event): the table,
    this process's memory (kept `memory_s`), then Redis's cache; `other` when none knows it yet, and
    the domain is noted for `Classifier.resolve_pending`."""

    def __init__(self, settings: Settings, client: Any, memory_s: float = 600.0, clock: Callable[[], float] = time.monotonic,
                 memory_domains: int = MEMORY_DOMAINS) -> None:
        self.extra: dict[str, str] = {d.lower(): p for d, p in settings.provider_domains.items()}
        self.client = client
        self.keys = Keys(settings.key_prefix)
        # Bounded: a process that meets millions of domains keeps the most recent `memory_domains`.
        # Domains Redis has no answer for yet are asked again after PENDING_RECHECK_S.
        self._memory: TTLCache[str, str] = TTLCache(maxsize=memory_domains, ttl=memory_s, timer=clock)
        self._pending: TTLCache[str, str] = TTLCache(maxsize=memory_domains, ttl=PENDING_RECHECK_S, timer=clock)

    def of(self, addresses: Iterable[str]) -> list[str]:
        """The provider of each address, in order."""
        domains = [a.rpartition("@")[2].lower() for a in addresses]
        found: dict[str, str] = {}
        ask: list[str] = []
        for domain in set(domains):
            remembered = from_table(domain, self.extra) or self._memory.get(domain) or self._pending.get(domain)
            if remembered:
                found[domain] = remembered
            else:
                ask.append(domain)
        if ask:
            pending = []
            for domain, hit in zip(ask, self.client.mget([self.keys.provider(d) for d in ask])):
                provider = (hit.decode() if isinstance(hit, bytes) else hit) or "other"
                provider = "other" if provider == NOMAIL else provider
                found[domain] = provider
                if hit is not None:
                    self._memory[domain] = provider
                else:  # asked again in a few seconds, when the fleet duty has looked it up
                    pending.append(domain)
                    self._pending[domain] = "other"
            if pending:
                self.client.sadd(self.keys.provider_pending, *pending)
        return [found[d] for d in domains]


def undeliverable_domains(client: Any, keys: Keys, domains: Iterable[str]) -> set[str]:
    """Of `domains`, those the cache knows accept no mail (one MGET; a domain not looked up yet is not
    among them: enqueue never waits on DNS, and the fleet duty looks it up for the next time)."""
    wanted = sorted({d.lower().rstrip(".") for d in domains})
    if not wanted:
        return set()
    hits = client.mget([keys.provider(d) for d in wanted])
    return {d for d, hit in zip(wanted, hits) if (hit.decode() if isinstance(hit, bytes) else hit) == NOMAIL}

