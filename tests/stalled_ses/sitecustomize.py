"""Loaded by a worker process the test starts with this folder on PYTHONPATH: once the file named by
RAMP_TEST_STALL_FLAG exists, every SES SendEmail stalls until the process is killed, either before
the request leaves (RAMP_TEST_STALL_PHASE=before: SES never gets it) or after SES answered and before
the worker reads the answer (`after`: SES has it). Each stalled call touches `<flag>.<pid>` so the
test knows when to kill. Registered last, so ses-ramp's claim (its own before-send hook) runs first."""

import os

_flag = os.environ.get("RAMP_TEST_STALL_FLAG")
_phase = os.environ.get("RAMP_TEST_STALL_PHASE", "before")

if _flag:
    import time

    import botocore.session

    def _stall(**_):
        if not os.path.exists(_flag):
            return None
        with open(f"{_flag}.{os.getpid()}", "w") as marker:
            marker.write(_phase)
        while True:  # until SIGKILL
            time.sleep(0.05)

    _create_client = botocore.session.Session.create_client

    def create_client(self, *args, **kwargs):
        client = _create_client(self, *args, **kwargs)
        event = "before-send.sesv2.SendEmail" if _phase == "before" else "after-call.sesv2.SendEmail"
        client.meta.events.register_last(event, _stall)
        return client

    botocore.session.Session.create_client = create_client
