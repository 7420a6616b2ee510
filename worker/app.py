"""The Celery app. `celery -A ses_ramp.worker.app worker` and `ramp worker` both load `app` from here.

This module is a process edge: `app` is built from the environment's `Settings` when first asked
for (Celery's `-A`); `ramp` commands that hold their own `Settings` call `create_app(settings)`.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from typing import Any

from celery import Celery, bootsteps, signals

from ses_ramp.config import Settings, SettingsError, load_settings
from ses_ramp.producers.wire import celery_config
from ses_ramp.worker.logs import configure_logging
from ses_ramp.worker.send.delivery import UnreadableSink, transport_for
from ses_ramp.worker.send.runtime import get_runtime


class HousekeepingStep(bootsteps.StartStopStep):
    """Runs the pause follower and (unless a beat does) the fleet duties in each worker's main process."""

    def __init__(self, worker, **kwargs):
        self.housekeeper = None

    def start(self, worker):
        from ses_ramp.worker.fleet.consumers import ConsumerSync
        from ses_ramp.worker.fleet.housekeeping import Housekeeper, fleet_duties
        from ses_ramp.worker.send.runtime import Runtime

        settings: Settings = worker.app.ramp_settings
        runtime = Runtime.build(settings)
        consuming = set(worker.app.amqp.queues.consume_from)
        sync = ConsumerSync(worker.app, worker.hostname, runtime.client, runtime.budget.keys, consuming)
        # Following pauses is this worker's own business; the fleet duties may be left to `ramp beat`.
        duties: list[Callable[[], Any]] = [sync, *(fleet_duties(settings, runtime, worker.app) if settings.worker_housekeeping else [])]
        self.housekeeper = Housekeeper(duties, settings.mover_interval_s)
        self.housekeeper.start()
        if settings.metrics_port:
            # Imported only here: prometheus_client must load after `enable` chose its multiprocess mode.
            from ses_ramp.worker.ops.exporter import serve

            serve(settings, runtime)

    def stop(self, worker):
        if self.housekeeper is not None:
            self.housekeeper.stop()


def unreadable_sink(settings: Settings) -> UnreadableSink:
    """Keeps a queue entry no task can read as a dead letter, under a fresh id, with its raw text."""

    def keep(raw: str, where: str, why: str) -> None:
        runtime = get_runtime(settings)
        message = {"id": f"unreadable-{uuid.uuid4().hex}", "unreadable": raw[:UNREADABLE_KEPT_CHARS], "queue": where}
        runtime.deferrals.dead_letter(message, 0, why, runtime.budget.now_ms())

    return keep


UNREADABLE_KEPT_CHARS = 256_000  # the raw text kept with an unreadable entry's dead letter

_settings: Settings | None = None  # of the app this process made: its signal handlers read them


def create_app(settings: Settings) -> Celery:
    global _settings
    from ses_ramp.worker.send.metrics import enable

    enable(settings)  # before any process of this tree imports prometheus_client
    _settings = settings
    app = Celery("ses_ramp", set_as_current=True)
    app.conf.update(celery_config(settings))
    # A worker's deliveries go through our QoS: see send/delivery.py for the window it closes.
    app.conf.broker_transport = transport_for(settings.effective_broker_url)
    # What cannot be read (not JSON, a refused content type, an unknown task) becomes a dead letter.
    app.ramp_unreadable = unreadable_sink(settings)
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, "unreadable_sink": app.ramp_unreadable}
    app.conf.worker_consumer = "ses_ramp.worker.send.delivery:Consumer"
    app.ramp_settings = settings
    app.steps["worker"].add(HousekeepingStep)

    from ses_ramp.worker.tasks import register_tasks

    register_tasks(app, settings)
    return app


@signals.celeryd_after_setup.connect
def _honour_pauses_at_startup(sender, instance, **_kwargs):
    """A worker started while a queue is paused never consumes from it, not even one message."""
    from redis.exceptions import RedisError

    from ses_ramp.config.keys import Keys
    from ses_ramp.producers.redis_client import redis_from_settings
    from ses_ramp.worker.guards.pause import flags, paused_queues

    settings: Settings = instance.app.ramp_settings
    client = redis_from_settings(settings, prompt=True)  # never hold the worker's start-up for long
    try:
        for queue in paused_queues(flags(client, Keys(settings.key_prefix))):
            instance.app.amqp.queues.deselect(queue)
    except RedisError:
        pass  # the housekeeper applies the flags as soon as Redis answers; the gate refuses meanwhile
    finally:
        client.close()


@signals.worker_process_shutdown.connect
def _metrics_child_exit(pid=None, **_kwargs):
    from ses_ramp.worker.send.metrics import child_exited

    if pid:
        child_exited(pid)


@signals.setup_logging.connect
def _logging(**_kwargs):
    # Connecting here stops Celery from installing its own handlers: ours route everything to JSON.
    if _settings is not None:
        configure_logging(_settings)


_app: Celery | None = None


def __getattr__(name: str) -> Celery:
    """`app`, built on first use from the environment (`celery -A ses_ramp.worker.app`)."""
    global _app
    if name != "app":
        raise AttributeError(name)
    if _app is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            sys.stderr.write(f"ses-ramp: {exc}\n")
            raise SystemExit(2) from None
        _app = create_app(settings)
    return _app
