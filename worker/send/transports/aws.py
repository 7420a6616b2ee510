"""Clients of AWS's other services (SQS, SNS, CloudWatch, SES v2 for setup), built from the one `Settings`:
its region and endpoint (moto in tests), short connect timeouts and two attempts, so an unreachable AWS
answers within seconds."""

from __future__ import annotations

import boto3
from botocore.config import Config

from ses_ramp.config import Settings


def aws_client(settings: Settings, service: str):
    config = Config(region_name=settings.ses_region, connect_timeout=5, read_timeout=settings.events_wait_s + 10, retries={"total_max_attempts": 2})
    return boto3.session.Session().client(service, endpoint_url=settings.effective_aws_endpoint_url, config=config)
