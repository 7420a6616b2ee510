"""Loaded by a worker process the test starts with this folder on PYTHONPATH: once the file named by
RAMP_TEST_REVOKED_FLAG exists, every SES SendEmail is answered as SES answers revoked credentials
(403 UnrecognizedClientException), through a botocore event hook that botocore's own parser reads.
Registered last, so ses-ramp's claim (its own before-send hook) runs first, as with a real SES."""

import json
import os

_flag = os.environ.get("RAMP_TEST_REVOKED_FLAG")

if _flag:
    import io

    import botocore.session
    from botocore.awsrequest import AWSResponse
    from urllib3.response import HTTPResponse

    def _revoked(request, **_):
        if not os.path.exists(_flag):
            return None
        body = json.dumps({"message": "The security token included in the request is invalid."}).encode()
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "UnrecognizedClientException"}
        return AWSResponse(request.url, 403, headers, HTTPResponse(body=io.BytesIO(body), status=403, preload_content=False))

    _create_client = botocore.session.Session.create_client

    def create_client(self, *args, **kwargs):
        client = _create_client(self, *args, **kwargs)
        client.meta.events.register_last("before-send.sesv2.SendEmail", _revoked)
        return client

    botocore.session.Session.create_client = create_client
