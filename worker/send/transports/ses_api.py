"""SES v2 `SendEmail` with raw MIME, the configuration set of the dedicated IP pool, and tags."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ses_ramp.config import Settings
from ses_ramp.producers.message import Message
from ses_ramp.producers.mime import build_mime
from ses_ramp.worker.send.transports.base import added_headers


def ses_client(settings: Settings) -> Any:
    """A sesv2 client; botocore's own retries are off so throttling reaches our classifier and gate."""
    config = Config(
        region_name=settings.ses_region,
        connect_timeout=settings.ses_timeout_s,
        read_timeout=settings.ses_timeout_s,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=10,
    )
    return boto3.session.Session().client("sesv2", endpoint_url=settings.ses_endpoint_url, config=config)


class SesApiTransport:
    name = "ses-api"

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client or ses_client(settings)
        self._local = threading.local()
        # botocore fires before-sign after serialising, just before signing and sending: the last moment
        # at which the gate's route can still choose the body's ConfigurationSetName (the signature covers it).
        self.client.meta.events.register("before-sign.sesv2.SendEmail", self._claim_now)

    def _claim_now(self, request: Any = None, **_kwargs: Any) -> None:
        claim = getattr(self._local, "claim", None)
        if claim is None:
            return
        self._local.claim = None
        configuration_set = claim()
        if request is not None and configuration_set != self.settings.configuration_set:
            # The overflow route: the same request through the other configuration set (rare enough that
            # re-serialising its JSON body costs nothing the dedicated route pays).
            body = json.loads(request.data)
            body["ConfigurationSetName"] = configuration_set
            request.data = json.dumps(body).encode()

    def send(self, message: Message, claim: Callable[[], str]) -> str:
        mime = build_mime(message, message.formatted_from(), added_headers(self.settings, message))
        tags = [
            {"Name": "kind", "Value": message.kind.value},
            {"Name": "message_id", "Value": message.id},
            *({"Name": k, "Value": v} for k, v in message.tags.items() if k not in {"kind", "message_id"}),
        ]
        destination = {
            key: addrs
            for key, addrs in (("ToAddresses", message.to), ("CcAddresses", message.cc), ("BccAddresses", message.bcc))
            if addrs
        }
        request: dict[str, Any] = {
            "FromEmailAddress": message.from_address, "Destination": destination, "Content": {"Raw": {"Data": mime}},
            "ConfigurationSetName": self.settings.configuration_set, "EmailTags": tags,
        }
        if message.list_management is not None:  # SES adds the unsubscribe headers and publishes Subscription events
            lm = message.list_management
            request["ListManagementOptions"] = {"ContactListName": lm.contact_list, **({"TopicName": lm.topic} if lm.topic else {})}
        self._local.claim = claim
        try:
            response = self.client.send_email(**request)
        finally:
            self._local.claim = None
        return response["MessageId"]

    def account_quota(self) -> tuple[float, float, float] | None:
        try:
            quota = self.client.get_account()["SendQuota"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NotImplemented", "NotImplementedException", "404"}:
                return None
            raise
        return float(quota["Max24HourSend"]), float(quota["SentLast24Hours"]), float(quota["MaxSendRate"])
