"""The send path: the thin Celery task, `Sender` (gate -> transport -> settle), the outcome classifier,
the error hierarchy, the deferred set and the transports in front of SES.

May import: `ses_ramp.config`, `ses_ramp.producers`, `ses_ramp.worker.lua`, `ses_ramp.worker.budget`.
"""
