"""ses-ramp's worker side. Sub-packages by part of the data path:

* `send/`    the send path: task, sender, classifier, errors, deferred set, transports
* `budget/`  the warm-up budget in Redis (gate, settle, day roll-over) and `lua/` its scripts
* `guards/`  probation guards: SES events, breaker, pause flags, probation
* `fleet/`   fleet duties: mover, quota refresh, reconciler, pause follower, heartbeat, metrics
* `ops/`     operator operations: parking, dead letters, suppression, status, setup, simulate, demo
* `cli/`     the `ramp` command: thin shells over `ops/` and the rest

Process edges at this level: `app.py` (the Celery app), `runtime.py` (per-process wiring), `logs.py`.
"""
