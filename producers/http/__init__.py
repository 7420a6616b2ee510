"""`ramp serve`: the HTTP door (FastAPI on uvicorn) for apps that are not written in Python, and the
RFC 8058 one-click unsubscribe endpoint. Imports no worker code and no boto3: it enqueues through
`Producer` exactly as a Python app does.

* `app.py`      the application factory (`uvicorn --factory ses_ramp.producers.http.app:app_from_env`)
* `ingest.py`   `POST /v1/messages`, `GET /v1/status`
* `oneclick.py` `GET|POST /u/{token}`
* `campaigns.py` `POST /v1/campaigns` (JSON or a CSV upload), `GET /v1/campaigns/{id}`, its cancel
* `auth.py`     bearer tokens checked against configured SHA-256 digests
"""
