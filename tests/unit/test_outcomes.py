"""The classifier, fed by botocore's real parser through Stubber (no hand-written fake client)."""

import smtplib

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from ses_ramp.worker.send.errors import Deferred, Misconfigured, Paused, Permanent, QuotaExhausted, Unconfirmed
from ses_ramp.worker.send.outcomes import classify


def ses_error(code: str, message: str, status: int) -> ClientError:
    client = boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("send_email", service_error_code=code, service_message=message, http_status_code=status)
        with pytest.raises(ClientError) as info:
            client.send_email(FromEmailAddress="a@example.com", Content={"Raw": {"Data": b"x"}})
    return info.value


@pytest.mark.parametrize(
    "code, message, status, expected",
    [
        ("TooManyRequestsException", "Maximum sending rate exceeded.", 429, Deferred),
        ("Throttling", "Rate exceeded", 400, Deferred),
        ("LimitExceededException", "Daily message quota exceeded.", 400, QuotaExhausted),
        ("SendingPausedException", "Sending is paused for this account.", 400, Paused),
        ("AccountSuspendedException", "Account suspended.", 400, Paused),
        # An unverified From identity, a bad signature or key, an unknown configuration set: nothing can
        # be sent as configured, so the fleet pauses and the message waits (never dead-lettered).
        ("MessageRejected", "Email address is not verified.", 400, Misconfigured),
        ("MessageRejected", "Email address is not verified. The following identities failed the check in region "
                            "US-EAST-1: sender@example.com", 400, Misconfigured),
        ("MailFromDomainNotVerifiedException", "not verified", 400, Misconfigured),
        ("SignatureDoesNotMatch", "The request signature we calculated does not match", 403, Misconfigured),
        ("UnrecognizedClientException", "The security token included in the request is invalid.", 403, Misconfigured),
        ("AccessDeniedException", "User is not authorized to perform: ses:SendEmail", 403, Misconfigured),
        ("NotFoundException", "Configuration set <ses-ramp> does not exist.", 404, Misconfigured),
        # In the SES sandbox an unverified *recipient* is that message's own problem.
        ("MessageRejected", "Email address is not verified. The following identities failed the check in region "
                            "US-EAST-1: someone@elsewhere.example", 400, Permanent),
        ("MessageRejected", "Illegal header", 400, Permanent),
        ("InternalFailure", "oops", 500, Deferred),
    ],
)
def test_ses_api_errors(code, message, status, expected):
    assert type(classify(ses_error(code, message, status), sender="sender@example.com")) is expected


@pytest.mark.parametrize(
    "code, text, expected",
    [(421, "4.7.0 Try again later", Deferred), (450, "busy", Deferred), (451, "local error", Deferred),
     (454, "Throttling failure: Maximum sending rate exceeded.", Deferred), (550, "5.1.1 user unknown", Permanent),
     (554, "Message rejected", Permanent)],
)
def test_smtp_replies(code, text, expected):
    result = classify(smtplib.SMTPDataError(code, text.encode()), ["x@example.com"])
    assert type(result) is expected
    if code == 550:
        assert result.unknown_recipients == ["x@example.com"]


def test_network_errors_before_and_after_sending():
    assert type(classify(EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"))) is Deferred
    assert type(classify(ReadTimeoutError(endpoint_url="https://email"))) is Unconfirmed


def test_missing_credentials_and_refused_smtp_login_are_misconfigured():
    from botocore.exceptions import NoCredentialsError

    assert type(classify(NoCredentialsError())) is Misconfigured
    assert type(classify(smtplib.SMTPAuthenticationError(535, b"Authentication Credentials Invalid"))) is Misconfigured

