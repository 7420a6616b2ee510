"""Gmail Postmaster Tools, read through google-api-python-client behind one small adapter.

The API version Google documents now is v2: `domains.domainStats.query` gives the user-reported spam rate
(`SPAM_RATE`) and the Feedback-ID identifiers Gmail flagged (`FEEDBACK_LOOP_ID`). v2 reports no IP or
domain reputation; v1's `domains.trafficStats.get` does (`ipReputations`, `domainReputation`), so they are
read there while v1 answers, and v1 gives the spam rate and the spammy feedback loops too where v2 is not
available for the domain. Both discovery documents ship with the library (`static_discovery`): nothing is
fetched from Google but the figures. A day with no data (late, or below Gmail's volume threshold) is a
report without figures. Every failure is one `PostmasterUnavailable` line, never a traceback."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import google.oauth2.credentials
import google_auth_httplib2
import httplib2
from google.auth.exceptions import GoogleAuthError
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from ses_ramp.config.gmail_reports import REPUTATIONS, GmailDay

SCOPE = "https://www.googleapis.com/auth/postmaster.readonly"


class PostmasterUnavailable(Exception):
    """Postmaster Tools could not be read; `str()` is one line naming the domain and why."""


def credentials_from(path: str) -> Any:
    """A service account key file or an authorised-user OAuth token file, both JSON, scoped read-only."""
    try:
        with open(path) as fh:
            info = json.load(fh)
        if info.get("type") == "service_account":
            return service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
        return google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=[SCOPE])
    except (OSError, ValueError, KeyError, GoogleAuthError) as exc:
        raise PostmasterUnavailable(f"RAMP_POSTMASTER_CREDENTIALS {path}: not a service account key or OAuth token file ({exc})") from None


class Postmaster:
    """`http`: the transport every call goes through (an authorised httplib2.Http; tests hand the
    library's own `HttpMockSequence`)."""

    def __init__(self, http: Any, endpoint: str | None = None) -> None:
        options = {"api_endpoint": endpoint} if endpoint else None  # another endpoint: a test's local server
        self.v2 = build("gmailpostmastertools", "v2", http=http, static_discovery=True, cache_discovery=False, client_options=options)
        self.v1 = build("gmailpostmastertools", "v1", http=http, static_discovery=True, cache_discovery=False, client_options=options)

    @classmethod
    def from_credentials(cls, path: str, timeout_s: float = 20.0) -> Postmaster:
        return cls(google_auth_httplib2.AuthorizedHttp(credentials_from(path), http=httplib2.Http(timeout=timeout_s)))

    def access(self, domain: str) -> None:
        """Raise `PostmasterUnavailable` unless these credentials may read `domain` (`ramp setup --check`)."""
        try:
            self._call(domain, self.v2.domains().get(name=f"domains/{domain}"), v2=True)
        except _NotThere:
            raise PostmasterUnavailable(f"Postmaster Tools has no domain {domain} for these credentials "
                                        "(add and verify it at postmaster.google.com)") from None

    def day(self, domain: str, on: date) -> GmailDay:
        """What Postmaster Tools reports for `domain` on `on`."""
        spam, spammy, v2_there = self._v2(domain, on)
        traffic = self._v1(domain, on)
        reputations: dict[str, str] = {}
        for group in traffic.get("ipReputations") or []:
            if group.get("reputation") in REPUTATIONS:
                reputations.update(dict.fromkeys(group.get("sampleIps") or [], group["reputation"]))
        if not v2_there:  # v1 alone: its own spam ratio and spammy feedback loops
            spam = traffic.get("userReportedSpamRatio")
            spammy = tuple(f["id"] for f in traffic.get("spammyFeedbackLoops") or [] if f.get("id"))
        domain_rep = traffic.get("domainReputation")
        return GmailDay(domain, on, float(spam) if spam is not None else None, reputations,
                        domain_rep if domain_rep in REPUTATIONS else None, spammy)

    def _v2(self, domain: str, on: date) -> tuple[float | None, tuple[str, ...], bool]:
        body = {"metricDefinitions": [{"name": "spam", "baseMetric": {"standardMetric": "SPAM_RATE"}},
                                      {"name": "fbl", "baseMetric": {"standardMetric": "FEEDBACK_LOOP_ID"}}],
                "timeQuery": {"dateList": {"dates": [{"year": on.year, "month": on.month, "day": on.day}]}},
                "aggregationGranularity": "DAILY"}
        try:
            answer = self._call(domain, self.v2.domains().domainStats().query(parent=f"domains/{domain}", body=body), v2=True)
        except _NotThere:
            return None, (), False
        spam: float | None = None
        spammy: tuple[str, ...] = ()
        for stat in answer.get("domainStats") or []:
            value = stat.get("value") or {}
            if stat.get("metric") == "spam":
                number = value.get("doubleValue", value.get("floatValue"))
                spam = float(number) if number is not None else None
            elif stat.get("metric") == "fbl":
                spammy = tuple((value.get("stringList") or {}).get("values") or ())
        return spam, spammy, True

    def _v1(self, domain: str, on: date) -> dict[str, Any]:
        try:
            return self._call(domain, self.v1.domains().trafficStats().get(name=f"domains/{domain}/trafficStats/{on:%Y%m%d}"))
        except _NotThere:
            return {}  # no traffic stats for the day: no data, not an error

    @staticmethod
    def _call(domain: str, request: Any, v2: bool = False) -> dict[str, Any]:
        try:
            return request.execute()
        except HttpError as exc:
            status = int(exc.resp.status)
            if status == 404 or (v2 and status == 501):
                raise _NotThere() from None
            why = {403: "permission denied (is the domain verified for these credentials?)", 429: "rate limited",
                   401: "credentials refused"}.get(status, "server error" if status >= 500 else "refused")
            raise PostmasterUnavailable(f"Postmaster Tools for {domain}: HTTP {status}, {why}") from None
        except (TimeoutError, OSError, httplib2.HttpLib2Error, GoogleAuthError) as exc:
            raise PostmasterUnavailable(f"Postmaster Tools for {domain}: no answer ({type(exc).__name__}: {exc})") from None


class _NotThere(Exception):
    """404: no data for that day (v1), or v2 not available for the domain."""
