"""Background duties: requeue due deferred messages, feed campaigns, refresh the SES account quota, restore the
adaptive rate, settle unconfirmed sends, judge list probes (the fleet duties), and, in `ramp beat`, the breaker.

Each worker runs the fleet duties unless `RAMP_WORKER_HOUSEKEEPING=false` leaves them to `ramp beat`.
Several processes run them at once safely: claims are atomic in Lua, the quota refresh takes a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from redis.exceptions import RedisError

from ses_ramp.config.probe import ProbePolicy
from ses_ramp.producers import known
from ses_ramp.producers.providers import Classifier
from ses_ramp.worker.budget.store import Budget
from ses_ramp.worker.fleet import probes
from ses_ramp.worker.fleet.feeder import Feeder
from ses_ramp.worker.fleet.mover import Mover
from ses_ramp.worker.fleet.postmaster import PostmasterReader
from ses_ramp.worker.fleet.reconcile import resolve_unconfirmed
from ses_ramp.worker.send.transports.base import Transport

log = structlog.get_logger(logger_name="ses_ramp.housekeeping")


def refresh_account_quota(budget: Budget, transport: Transport, every_s: int) -> bool:
    """Re-read SES GetAccount at most every `every_s` seconds fleet-wide; True when refreshed."""
    if not budget.client.set(budget.keys.lock("account"), "1", nx=True, ex=every_s):
        return False
    quota = transport.account_quota()
    if quota is None:
        return False
    budget.store_account_quota(*quota)
    return True


def purge_expired_dead(runtime: Any, retention_days: int, every_s: int = 3600) -> int:
    """At most once every `every_s` fleet-wide: delete the dead letters older than the retention."""
    if retention_days <= 0 or not runtime.client.set(runtime.budget.keys.lock("dead_purge"), "1", nx=True, ex=every_s):
        return 0
    purged = runtime.deferrals.purge_dead(runtime.budget.now_ms() - retention_days * 86_400_000)
    if purged:
        log.info("dead_letters_purged", count=purged, retention_days=retention_days)
    return purged


def fleet_duties(settings, runtime, app: Any) -> list[Callable[[], Any]]:
    """The duties any one process may run for the whole fleet; each returns True when busy."""
    mover = Mover(runtime.deferrals, app, settings.mover_batch, settings.compress_over_bytes)

    feeder = Feeder(settings, runtime.client, app, runtime.budget.now_ms)

    def move_due() -> int:
        return mover.run_once()

    def feed_campaigns() -> int:
        return feeder.run_once()

    classifier = Classifier(settings, runtime.client)

    def resolve_providers() -> bool:
        classifier.resolve_pending_in_background()  # DNS on its own thread, never in a send or this loop
        return False

    def account_quota() -> bool:
        return refresh_account_quota(runtime.budget, runtime.sender.transport, settings.account_quota_refresh_s)

    def adaptive_rate() -> bool:
        runtime.budget.recover()
        return False

    def unconfirmed() -> bool:
        resolve_unconfirmed(runtime, settings.unconfirmed_resend_after_s)
        return False

    def dead_retention() -> bool:
        purge_expired_dead(runtime, settings.dead_retention_days)
        return False

    pruned_on = [-1]

    def known_recipients() -> bool:
        """Once a day: forget the recipients last delivered to before RAMP_KNOWN_RECIPIENT_DAYS."""
        today = known.day_number(runtime.budget.now_ms())
        if pruned_on[0] != today:
            known.forget_older(runtime.client, runtime.budget.keys, runtime.budget.now_ms(), settings.known_recipient_days)
            pruned_on[0] = today
        return False

    policy = ProbePolicy.from_settings(settings)

    def judge_probes() -> bool:
        return probes.judge_all(runtime.client, runtime.budget.keys, policy, runtime.budget.now_ms()) > 0

    duties: list[Callable[[], Any]] = [move_due, feed_campaigns, resolve_providers, account_quota, adaptive_rate,
                                        unconfirmed, dead_retention, known_recipients, judge_probes]
    if settings.postmaster_credentials:  # Gmail's own numbers for the google ramp, once a day
        duties.append(PostmasterReader(settings, runtime).run_once)
    return duties


def breaker_duties(settings, breaker) -> list[Callable[[], Any]]:
    """`ramp beat`'s watch: the rates on every tick (events may stop, a resume may come), the
    CloudWatch alarm every `beat_alarm_poll_s`."""
    last_poll = [float("-inf")]

    def breaker_rates() -> bool:
        breaker.evaluate()
        return False

    def bounce_alarm() -> bool:
        if time.monotonic() - last_poll[0] >= settings.beat_alarm_poll_s:
            last_poll[0] = time.monotonic()
            breaker.check_alarm()
        return False

    return [breaker_rates, bounce_alarm]


class Housekeeper(threading.Thread):
    """A daemon thread in the worker's main process running `duties` every `interval_s`."""

    def __init__(self, duties: list[Callable[[], Any]], interval_s: float) -> None:
        super().__init__(name="ses-ramp-housekeeper", daemon=True)
        self.duties = duties
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            busy = False
            for duty in self.duties:
                try:
                    busy = bool(duty()) or busy
                except RedisError as exc:
                    log.warning("housekeeping_redis_error", duty=getattr(duty, "__name__", "?"), error=str(exc))
                except Exception:  # noqa: BLE001 - a failing duty must not kill the thread
                    log.exception("housekeeping_failed", duty=getattr(duty, "__name__", "?"))
            # A full batch moved: go again at once, the backlog is large.
            if not busy:
                self.stopping.wait(self.interval_s)

    def stop(self) -> None:
        self.stopping.set()


def run_beat(settings, runtime, app: Any, breaker, stop: threading.Event) -> None:
    """`ramp beat`: the fleet duties and the breaker in one process until `stop` is set."""
    from ses_ramp.worker.fleet.heartbeat import Heartbeat

    heartbeat = Heartbeat(runtime.client, runtime.budget.keys, "beat", ttl_s=max(10, int(settings.mover_interval_s * 10)))
    duties = [heartbeat.beat, *fleet_duties(settings, runtime, app), *breaker_duties(settings, breaker)]
    housekeeper = Housekeeper(duties, settings.mover_interval_s)
    log.info("beat_started", interval_s=settings.mover_interval_s, alarm_poll_s=settings.beat_alarm_poll_s)
    housekeeper.start()
    stop.wait()
    housekeeper.stop()
    housekeeper.join(timeout=30)
    heartbeat.stop()
    log.info("beat_stopped")

