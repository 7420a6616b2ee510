"""The window between kombu's BRPOP and its `unacked` record, hit on purpose with a real Redis:
Redis goes away right after a message was taken off its list and before the worker recorded it."""

from __future__ import annotations

import threading

from kombu import Connection
from kombu.transport import redis as kombu_redis

from ses_ramp.worker.ops.embedded import EmbeddedRedis, free_port
from ses_ramp.worker.send import delivery


def _through_an_outage(tmp_path, qos_base) -> tuple[object, int, int]:
    """Publish one message, take it with `qos_base` recording deliveries; Redis stops inside the
    window and comes back a second later. Returns (what the consumer got, list length, unacked)."""
    server = EmbeddedRedis(free_port(), tmp_path / "redis", persist=True).start()
    restarted = threading.Event()

    class Outage(qos_base):
        hit = False

        def append(self, message, delivery_tag):
            if not Outage.hit:
                Outage.hit = True
                server.stop()  # SIGTERM: Redis writes its append-only file and exits

                def back() -> None:
                    server.start()
                    restarted.set()

                threading.Timer(1.0, back).start()
            return super().append(message, delivery_tag)

    channel_base = delivery.Channel if qos_base is delivery.QoS else kombu_redis.Channel

    class OutageChannel(channel_base):
        QoS = Outage

    class OutageTransport(kombu_redis.Transport):
        Channel = OutageChannel

    got: object = None
    try:
        with Connection(server.url, transport=OutageTransport) as conn:
            queue = conn.SimpleQueue("window")
            queue.put({"n": 1})
            try:
                message = queue.get(timeout=30)
                got = message.payload
                message.ack()
            except conn.connection_errors + (Exception,) as exc:  # the unpatched transport fails here
                got = exc
            queue.close()
        restarted.wait(30)
        import redis

        client = redis.Redis.from_url(server.url)
        left_in_list = client.llen("window")
        unacked = client.hlen("unacked")
        client.close()
        return got, left_in_list, unacked
    finally:
        restarted.wait(30)
        server.stop()


def test_kombus_own_delivery_loses_a_message_in_the_window(tmp_path):
    """The measurement: unpatched, the message is in neither the list nor `unacked`."""
    got, left, unacked = _through_an_outage(tmp_path, kombu_redis.QoS)
    assert isinstance(got, Exception)
    assert (left, unacked) == (0, 0)


def test_our_delivery_records_it_once_redis_is_back_and_delivers_it(tmp_path):
    got, left, unacked = _through_an_outage(tmp_path, delivery.QoS)
    assert got == {"n": 1}
    assert (left, unacked) == (0, 0)  # delivered and acknowledged: nothing left behind
