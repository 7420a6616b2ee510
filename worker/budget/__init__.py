"""The warm-up budget in Redis: `store.Budget` enforces what `ses_ramp.config.schedule` decides (the
gate, settle, the day roll-over, the SES account quota, the adaptive rate), one Lua call at a time.

Per mailbox provider too: each has its own step and cap (`provider_days.py`, policy in
`ses_ramp.config.provider_ramp`), charged by the same gate call.

May import: `ses_ramp.config`, `ses_ramp.producers` (the provider of an address), `ses_ramp.worker.lua`
(the README's layout table is the order; `tests/unit/test_layout.py` checks it).
"""
