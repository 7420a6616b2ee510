"""The operator's dashboard in `ramp serve` (`/dashboard`): the ramp, its providers, today, what waits, and the
controls, server-rendered from the same plain functions as `ramp status`, `ramp forecast` and `ramp campaigns
list` (it computes no figure of its own).

* `app.py`       uvicorn's factory when RAMP_DASHBOARD_TOKEN_SHA256 is set: the ingest app plus the dashboard
* `operator.py`  the operator's sign-in (a token distinct from the ingest tokens), its cookie and CSRF check
* `view.py`      one page's figures, read from the plain functions
* `dashboard.py` the routes: the page, sign-in and out, the controls (each recorded: who, what, why)
"""
