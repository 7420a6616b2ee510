"""Probation guards: SES events in (`events`), the staged breaker, fleet-wide pause flags and the
probation preset. They decide when sending stops; they never send.

May import: `ses_ramp.config`, `ses_ramp.producers`, `ses_ramp.worker.lua`, `.budget`, `.send`.
"""
