"""Four real worker processes race to send 10x the day's cap: the cap holds exactly."""

import time

from ses_ramp.producers import Producer
from ses_ramp.worker.ops.status import queue_depths
from tests.helpers import accepted_by_moto, wait_for


class TimestampedList(list):
    """moto's sent-message list, noting when each message arrived (monotonic seconds)."""

    def __init__(self, *a):
        super().__init__(*a)
        self.arrivals = []

    def append(self, item):
        self.arrivals.append((time.monotonic(), item))
        super().append(item)


def test_four_workers_never_overshoot_cap_reserve_or_rate(settings, moto_ses, workers, runtime):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    cap, reserve, rate, burst = 40, 8, 10, 3
    s = settings.model_copy(update={"warmup_start_per_day": cap, "warmup_target_per_day": 50_000, "rate_per_s": rate, "rate_burst": burst})
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    timed = TimestampedList(backend.sent_messages)
    backend.sent_messages = timed
    try:
        workers(count=4, concurrency=1, s=s)
        producer = Producer(s)
        bulk = producer.enqueue_many({"to": [f"b{i}@example.com"], "subject": f"bulk {i}", "text": "x", "kind": "bulk", "list": "news"} for i in range(360))
        tx = producer.enqueue_many({"to": [f"t{i}@example.com"], "subject": f"tx {i}", "text": "x", "kind": "transactional"} for i in range(40))
        producer.close()
        ids = {r.id for r in bulk + tx}
        bulk_ids = {r.id for r in bulk}

        def settled():
            depths = queue_depths(runtime.client, s.key_prefix)
            counts = runtime.deferrals.counts()
            return sum(depths.values()) == 0 and counts["deferred"] == len(ids) - cap

        wait_for(settled, 120, 0.2, "the budget to run out and the rest to be deferred")
        from tests.helpers import ramp_id

        sent = accepted_by_moto(moto_ses, ids)
        sent_ids = [ramp_id(m) for m in sent]
        assert len(sent) == cap and len(set(sent_ids)) == cap  # exactly the cap, each once
        sent_bulk = sum(1 for i in sent_ids if i in bulk_ids)
        assert sent_bulk <= cap - reserve
        assert cap - sent_bulk >= reserve  # the reserve went to transactional mail
        st = runtime.budget.status()
        assert st["used"] == cap and st["sent"] == cap
        counts = runtime.deferrals.counts()
        assert counts["dead"] == 0 and counts["unconfirmed"] == 0
        # Everything not sent is still there, waiting for tomorrow's budget.
        waiting = set(runtime.client.zrange(runtime.budget.keys.deferred, 0, -1))
        assert waiting == ids - set(sent_ids)

        times = sorted(t for t, m in timed.arrivals if ramp_id(m) in ids)
        busiest = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
        assert busiest <= rate + burst, f"{busiest} sends in one second"
    finally:
        backend.sent_messages = list(timed)
