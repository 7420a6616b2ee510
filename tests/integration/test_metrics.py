"""Scrape a real worker's Prometheus endpoint after a drain: the counters equal what SES received."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from ses_ramp.producers import Producer
from ses_ramp.worker.ops.embedded import free_port
from tests.helpers import accepted_by_moto, wait_for


def scrape(port: int) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_after_a_drain_match_what_moto_received(settings, moto_ses, workers, runtime, tmp_path):
    port = free_port()
    s = settings.model_copy(update={"metrics_port": port, "metrics_dir": str(tmp_path / "prom"), "warmup_start_per_day": 1000,
                                    "warmup_target_per_day": 50_000})
    workers(count=1, concurrency=2, s=s)
    p = Producer(s)
    tx = {r.id for r in p.enqueue_many({"to": [f"t{i}@example.com"], "subject": "t", "text": "x", "kind": "transactional"} for i in range(12))}
    bulk = {r.id for r in p.enqueue_many({"to": [f"b{i}@example.com"], "subject": "b", "text": "x", "kind": "bulk", "list": "news"} for i in range(30))}
    p.close()
    wait_for(lambda: len(accepted_by_moto(moto_ses, tx | bulk)) == 42, 60, what="the drain")
    sent_tx, sent_bulk = len(accepted_by_moto(moto_ses, tx)), len(accepted_by_moto(moto_ses, bulk))

    def counters_match():
        m = scrape(port)
        return (m.get(("ses_ramp_messages_total", (("kind", "transactional"), ("outcome", "sent")))) == sent_tx
                and m.get(("ses_ramp_messages_total", (("kind", "bulk"), ("outcome", "sent")))) == sent_bulk and m)

    m = wait_for(counters_match, 20, 0.2, "the scrape to show the drain")
    assert m[("ses_ramp_ses_call_seconds_count", ())] == 42
    assert m[("ses_ramp_gate_decisions_total", (("decision", "go"), ("provider", "")))] == 42
    assert m[("ses_ramp_cap", ())] == 1000 and m[("ses_ramp_used", ())] == 42
    # example.com has no provider of its own: all 42 were charged to `other`'s own ramp.
    assert m[("ses_ramp_provider_used", (("provider", "other"),))] == 42
    assert m[("ses_ramp_provider_used", (("provider", "google"),))] == 0
    assert m[("ses_ramp_provider_cap", (("provider", "other"),))] >= 42
    assert m[("ses_ramp_queue_depth", (("kind", "bulk"),))] == 0
    assert m[("ses_ramp_breaker_state", ())] == 0
    # Messages held by workers, per kind: none once the drain is done.
    assert m[("ses_ramp_unacked", (("kind", "bulk"),))] == 0 and ("ses_ramp_unacked_oldest_seconds", (("kind", "bulk"),)) in m
