"""`ramp setup`: the seed's checklist, idempotent. Each step finds what exists before creating.

dedicated IP pool -> (IP into the pool) -> configuration set bound to the pool -> SNS topic -> SQS
queue subscribed to it -> event destination on the configuration set -> CloudWatch alarm on
Reputation.BounceRate (300 s periods, threshold just under the breaker's trip level).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ses_ramp.config import Settings
from ses_ramp.worker.ops import ses_warmup

EVENT_TYPES = ["SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "DELIVERY_DELAY"]


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")



def alarm_threshold(settings: Settings) -> float:
    """Just under the trip level: the alarm fires before the breaker's own trip would."""
    return round(settings.bounce_trip_rate * 0.9, 6)


def run_setup(settings: Settings, clients: dict[str, Any], ip: str | None = None, overflow: bool = False,
              overflow_pool: str | None = None) -> list[tuple[str, str, str]]:
    """Returns (resource, name, "created" | "exists" | "updated") for each step. Raises
    `ses_warmup.ManagedPoolRefused` for a MANAGED pool. `overflow`: also create the overflow route's
    configuration set (RAMP_OVERFLOW_CONFIGURATION_SET), on SES's shared pool or on `overflow_pool`
    (a pool of IPs already warm), with the same event destination."""
    ses, sns, sqs, cw = clients["sesv2"], clients["sns"], clients["sqs"], clients["cloudwatch"]
    report: list[tuple[str, str, str]] = []
    pool, cs = settings.dedicated_ip_pool, settings.configuration_set
    if overflow and not settings.overflow_configuration_set:
        raise ValueError("--overflow needs RAMP_OVERFLOW_CONFIGURATION_SET: the name of the overflow route's configuration set")

    try:
        ses.get_dedicated_ip_pool(PoolName=pool)
        report.append(("dedicated IP pool", pool, "exists"))
    except ClientError as exc:
        if _code(exc) != "NotFoundException":
            raise
        ses.create_dedicated_ip_pool(PoolName=pool, ScalingMode="STANDARD")
        report.append(("dedicated IP pool", pool, "created"))
    ses_warmup.refuse_managed(ses_warmup.read(ses, pool))

    if ip:
        current = ses.get_dedicated_ip(Ip=ip)["DedicatedIp"].get("PoolName")
        if current == pool:
            report.append(("dedicated IP", ip, "exists"))
        else:
            ses.put_dedicated_ip_in_pool(Ip=ip, DestinationPoolName=pool)
            report.append(("dedicated IP", ip, "updated"))

    report.append(_configuration_set(ses, cs, pool))
    routes = [cs]
    if overflow and settings.overflow_configuration_set:
        report.append(_configuration_set(ses, settings.overflow_configuration_set, overflow_pool))
        routes.append(settings.overflow_configuration_set)

    topics = {t["TopicArn"].rsplit(":", 1)[-1]: t["TopicArn"] for t in sns.list_topics().get("Topics", [])}
    topic_arn = topics.get(settings.events_topic_name)
    if topic_arn is None:
        topic_arn = sns.create_topic(Name=settings.events_topic_name)["TopicArn"]
        report.append(("SNS topic", settings.events_topic_name, "created"))
    else:
        report.append(("SNS topic", settings.events_topic_name, "exists"))

    try:
        queue_url = sqs.get_queue_url(QueueName=settings.events_queue_name)["QueueUrl"]
        report.append(("SQS queue", settings.events_queue_name, "exists"))
    except ClientError as exc:
        if "NonExistentQueue" not in _code(exc) and _code(exc) != "QueueDoesNotExist":
            raise
        queue_url = sqs.create_queue(QueueName=settings.events_queue_name)["QueueUrl"]
        report.append(("SQS queue", settings.events_queue_name, "created"))
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                       "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    subs = sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", [])
    if any(s["Endpoint"] == queue_arn for s in subs):
        report.append(("SNS -> SQS subscription", settings.events_queue_name, "exists"))
    else:
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        report.append(("SNS -> SQS subscription", settings.events_queue_name, "created"))

    dest_name = "ses-ramp-events"
    definition = {"Enabled": True, "MatchingEventTypes": EVENT_TYPES, "SnsDestination": {"TopicArn": topic_arn}}
    for route in routes:  # both routes' events reach the same queue; their tag tells them apart
        existing = ses.get_configuration_set_event_destinations(ConfigurationSetName=route).get("EventDestinations", [])
        name = dest_name if route == cs else f"{dest_name} ({route})"
        if any(d["Name"] == dest_name for d in existing):
            report.append(("event destination", name, "exists"))
        else:
            ses.create_configuration_set_event_destination(ConfigurationSetName=route, EventDestinationName=dest_name,
                                                           EventDestination=definition)
            report.append(("event destination", name, "created"))

    alarms = cw.describe_alarms(AlarmNames=[settings.alarm_name]).get("MetricAlarms", [])
    threshold = alarm_threshold(settings)
    if alarms and alarms[0].get("Threshold") == threshold and alarms[0].get("Period") == 300:
        report.append(("CloudWatch alarm", settings.alarm_name, "exists"))
    else:
        cw.put_metric_alarm(
            AlarmName=settings.alarm_name, Namespace="AWS/SES", MetricName="Reputation.BounceRate",
            Statistic="Average", Period=300, EvaluationPeriods=1, Threshold=threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
            AlarmDescription=f"ses-ramp: bounce rate at {threshold:.2%}, just under the breaker's trip level; ses-ramp pauses sending while in ALARM",
        )
        report.append(("CloudWatch alarm", settings.alarm_name, "updated" if alarms else "created"))
    return report


def _configuration_set(ses: Any, name: str, pool: str | None) -> tuple[str, str, str]:
    """Find or create one configuration set; `pool` None: SES's shared pool."""
    try:
        ses.get_configuration_set(ConfigurationSetName=name)
        return ("configuration set", name, "exists")
    except ClientError as exc:
        if _code(exc) not in {"NotFoundException", "ConfigurationSetDoesNotExistException"}:
            raise
    ses.create_configuration_set(ConfigurationSetName=name, ReputationOptions={"ReputationMetricsEnabled": True},
                                 **({"DeliveryOptions": {"SendingPoolName": pool}} if pool else {}))
    return ("configuration set", name, "created")


def setup_clients(settings: Settings) -> dict[str, Any]:
    """The four AWS clients `run_setup` uses (SES through its own endpoint override, if any)."""
    from ses_ramp.worker.send.transports.aws import aws_client
    from ses_ramp.worker.send.transports.ses_api import ses_client

    clients = {name: aws_client(settings, name) for name in ("sns", "sqs", "cloudwatch")}
    clients["sesv2"] = ses_client(settings) if settings.ses_endpoint_url else aws_client(settings, "sesv2")
    return clients

