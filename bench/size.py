"""What a queued message costs in Redis: a typical bulk message (about 3 KB of HTML and text) with
Celery's zlib compression (RAMP_COMPRESS_OVER_BYTES, the default) against none, side by side."""

from __future__ import annotations

import time

import redis

from bench.hotpath import scoped
from bench.pairs import Paired, abba
from ses_ramp.config import Settings
from ses_ramp.producers import Producer

HTML = "<html><body>" + "".join(f"<p>Paragraph {i}: This week at Acme we have news about our products, offers and events "
                                f"near you.</p>" for i in range(18)) + "</body></html>"
TEXT = "\n".join(f"Paragraph {i}: This week at Acme we have news about our products, offers and events near you." for i in range(8))


def typical(n: int) -> list[dict]:
    return [{"to": [f"u{i}@example.com"], "subject": "This week at Acme", "html": HTML, "text": TEXT, "kind": "bulk", "list": "news"}
            for i in range(n)]


def bytes_per_message(base: Settings, n: int, pairs: int) -> tuple[Paired, Paired]:
    """(Redis bytes per queued message, enqueue_many msg/s), each uncompressed (A) against zlib (B)."""
    client = redis.Redis.from_url(base.effective_redis_url)
    speed: dict[int, list[float]] = {0: [], base.compress_over_bytes or 1024: []}

    def run(over: int) -> float:
        p = Producer(scoped(base, "sz", compress_over_bytes=over))
        messages = typical(n)
        before = int(client.info("memory")["used_memory"])
        t0 = time.perf_counter()
        p.enqueue_many(messages)
        speed[over].append(n / (time.perf_counter() - t0))
        used = int(client.info("memory")["used_memory"]) - before
        p.close()
        return used / n

    compressed = base.compress_over_bytes or 1024
    sizes = abba(lambda: run(0), lambda: run(compressed), pairs)
    client.close()
    return sizes, Paired(speed[0], speed[compressed])


CONTENT_BYTES = len(HTML) + len(TEXT)
