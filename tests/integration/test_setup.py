"""`ramp setup` against moto (sesv2, sns, sqs, cloudwatch): creates once, finds everything the second time."""

from ses_ramp.worker.ops.setup_aws import alarm_threshold, run_setup
from ses_ramp.worker.send.transports.aws import aws_client
from tests.helpers import answer_operation


def test_setup_is_idempotent_and_builds_the_seed_checklist(settings, prefix):
    s = settings.model_copy(update={"configuration_set": f"cs-{prefix}", "dedicated_ip_pool": f"pool-{prefix}",
                                    "events_topic_name": f"topic-{prefix}", "events_queue_name": f"queue-{prefix}",
                                    "alarm_name": f"alarm-{prefix}"})
    clients = {n: aws_client(s, n) for n in ("sesv2", "sns", "sqs", "cloudwatch")}
    # moto lacks these SES v2 operations; everything else below is moto's real behaviour.
    destinations = {"EventDestinations": []}
    answer_operation(clients["sesv2"], "GetConfigurationSetEventDestinations", 200, destinations)
    seen = answer_operation(clients["sesv2"], "CreateConfigurationSetEventDestination", 200, {})
    ip = {"DedicatedIp": {"Ip": "198.51.100.7", "WarmupStatus": "IN_PROGRESS", "WarmupPercentage": 0}}
    answer_operation(clients["sesv2"], "GetDedicatedIp", 200, ip)
    moved = answer_operation(clients["sesv2"], "PutDedicatedIpInPool", 200, {})

    first = run_setup(s, clients, ip="198.51.100.7")
    assert [r[2] for r in first] == ["created", "updated", "created", "created", "created", "created", "created", "created"]
    assert moved[0]["DestinationPoolName"] == s.dedicated_ip_pool
    assert seen[0]["EventDestination"]["SnsDestination"]["TopicArn"].endswith(f"topic-{prefix}")
    assert set(seen[0]["EventDestination"]["MatchingEventTypes"]) >= {"SEND", "BOUNCE", "COMPLAINT", "DELIVERY_DELAY"}

    cs = clients["sesv2"].get_configuration_set(ConfigurationSetName=s.configuration_set)
    assert cs["DeliveryOptions"]["SendingPoolName"] == s.dedicated_ip_pool
    [alarm] = clients["cloudwatch"].describe_alarms(AlarmNames=[s.alarm_name])["MetricAlarms"]
    assert alarm["MetricName"] == "Reputation.BounceRate" and alarm["Period"] == 300
    assert alarm["Threshold"] == alarm_threshold(s) < s.bounce_trip_rate
    topic = next(t["TopicArn"] for t in clients["sns"].list_topics()["Topics"] if t["TopicArn"].endswith(f"topic-{prefix}"))
    [sub] = clients["sns"].list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sub["Protocol"] == "sqs" and sub["Endpoint"].endswith(f"queue-{prefix}")

    destinations["EventDestinations"] = [{"Name": "ses-ramp-events"}]
    ip["DedicatedIp"]["PoolName"] = s.dedicated_ip_pool  # where the first run put it
    second = run_setup(s, clients, ip="198.51.100.7")
    assert [r[2] for r in second] == ["exists"] * 8
    assert len(seen) == 1 and len(moved) == 1  # the second run changed nothing
