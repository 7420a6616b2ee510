"""Fleet duties that run beside the send path in every worker (or once, in `ramp beat`): the deferred
mover, the SES quota refresh, the adaptive-rate recovery, the unconfirmed reconciler, the pause
follower, the SES events loop (`ramp events`), heartbeats and the worker supervisor.

May import: `ses_ramp.config`, `ses_ramp.producers`, `ses_ramp.worker.lua`, `.budget`, `.send`, `.guards`.
"""
