"""The warm-up budget in Redis: `store.Budget` enforces what `ses_ramp.config.schedule` decides (the
gate, settle, the day roll-over, the SES account quota, the adaptive rate), one Lua call at a time.

May import: `ses_ramp.config`, `ses_ramp.worker.lua`.
"""
