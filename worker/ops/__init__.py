"""Operator operations behind the `ramp` commands, as plain functions with their own tests: parking
(flush, restore), dead letters, suppression, status, `ramp setup`, the simulator, the demo and the
embedded servers they use.

May import: anything in `ses_ramp` except `ses_ramp.worker.cli` and the process edges (`app`, `tasks`, `logs`).
"""
