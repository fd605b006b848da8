"""LocalQueue against a real functions-framework receiver on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from shared.adapters.cloudevents import message_from_cloudevent
from shared.adapters.local_queue import LocalQueue
from shared.domain.errors import QueueError
from shared.domain.models import ValidationMessage
from tests.support.cloudevent_receiver import CloudEventReceiver, cloudevent_receiver  # noqa: F401  (fixture)

MESSAGE = ValidationMessage(org="acme", provider="openai", version=4, credential_id="cred-4")


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "local-validation-queue"]


def test_publish_returns_at_once_while_the_function_is_slow() -> None:
    with CloudEventReceiver(delay_seconds=0.3) as receiver, LocalQueue(receiver.url, timeout=5) as queue:
        started = time.monotonic()
        for version in range(1, 4):
            queue.publish(MESSAGE.model_copy(update={"version": version}))
        assert time.monotonic() - started < 0.2

        assert queue.drain(timeout=10)
        assert [message_from_cloudevent(d.event)[0].version for d in receiver.accepted] == [1, 2, 3]


def test_redelivers_on_5xx_with_growing_attempt_then_gives_up(
    cloudevent_receiver: CloudEventReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    cloudevent_receiver.fail_next(100)
    caplog.set_level(logging.INFO, logger="shared.adapters.local_queue")

    with LocalQueue(cloudevent_receiver.url, max_attempts=3, backoff=0.01) as queue:
        queue.publish(MESSAGE)
        assert queue.drain(timeout=10)

    deliveries = cloudevent_receiver.deliveries
    assert [message_from_cloudevent(d.event)[1] for d in deliveries] == [1, 2, 3]
    assert {d.attributes["id"] for d in deliveries} == {deliveries[0].attributes["id"]}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "acme/openai" in warnings[0] and "HTTP 500" in warnings[0]


def test_succeeds_when_a_redelivery_is_accepted(cloudevent_receiver: CloudEventReceiver) -> None:
    cloudevent_receiver.fail_next(2, status=503)

    with LocalQueue(cloudevent_receiver.url, max_attempts=5, backoff=0.01) as queue:
        queue.publish(MESSAGE)
        assert queue.drain(timeout=10)

    assert [d.status for d in cloudevent_receiver.deliveries] == [503, 503, 200]
    assert message_from_cloudevent(cloudevent_receiver.accepted[0].event) == (MESSAGE, 3)


def test_a_4xx_answer_is_final(cloudevent_receiver: CloudEventReceiver, caplog: pytest.LogCaptureFixture) -> None:
    cloudevent_receiver.fail_next(5, status=400)

    with LocalQueue(cloudevent_receiver.url, max_attempts=5, backoff=0.01) as queue:
        queue.publish(MESSAGE)
        assert queue.drain(timeout=10)

    assert [d.status for d in cloudevent_receiver.deliveries] == [400]
    assert any("rejected: HTTP 400" in r.getMessage() for r in caplog.records)


def test_connection_errors_are_retried_a_bounded_number_of_times(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shared.adapters.local_queue")

    with LocalQueue(_closed_port_url(), max_attempts=3, backoff=0.01, timeout=1) as queue:
        queue.publish(MESSAGE)
        assert queue.drain(timeout=10)

    # Routine retries: a warning each, with the attempt, the error type and the target (no stack trace).
    retries = [r for r in caplog.records if hasattr(r, "attempt") and r.levelno == logging.WARNING]
    assert len(retries) == 3
    assert [(r.attempt, r.error_type) for r in retries] == [
        (1, "ConnectError"),
        (2, "ConnectError"),
        (3, "ConnectError"),
    ]
    assert all(r.target.startswith("127.0.0.1:") and r.exc_info is None for r in retries)
    assert any(r.levelno == logging.WARNING and "ConnectError" in r.getMessage() for r in caplog.records)


def test_drain_times_out_while_deliveries_are_pending() -> None:
    with CloudEventReceiver(delay_seconds=0.3) as receiver, LocalQueue(receiver.url) as queue:
        queue.publish(MESSAGE)
        queue.publish(MESSAGE)
        assert queue.drain(timeout=0.05) is False
        assert queue.drain(timeout=10) is True
        assert len(receiver.accepted) == 2


def test_close_delivers_what_is_queued_then_refuses_to_publish(cloudevent_receiver: CloudEventReceiver) -> None:
    queue = LocalQueue(cloudevent_receiver.url)
    queue.publish(MESSAGE)
    queue.close()
    queue.close()  # idempotent

    assert len(cloudevent_receiver.accepted) == 1
    with pytest.raises(QueueError, match="closed"):
        queue.publish(MESSAGE)
    assert queue._worker is not None and not queue._worker.is_alive()


def test_a_full_queue_refuses_instead_of_growing(cloudevent_receiver: CloudEventReceiver) -> None:
    cloudevent_receiver.delay_seconds = 0.3
    with LocalQueue(cloudevent_receiver.url, max_pending=2) as queue:
        queue.publish(MESSAGE)  # taken by the worker
        time.sleep(0.1)
        queue.publish(MESSAGE)
        queue.publish(MESSAGE)
        with pytest.raises(QueueError, match="full"):
            queue.publish(MESSAGE)
        assert queue.drain(timeout=10)
    assert len(cloudevent_receiver.accepted) == 3


def test_the_worker_starts_on_first_publish() -> None:
    before = len(_worker_threads())
    queue = LocalQueue(_closed_port_url(), max_attempts=1)
    assert len(_worker_threads()) == before
    queue.publish(MESSAGE)
    assert len(_worker_threads()) == before + 1
    queue.close()


def test_publish_from_16_threads(cloudevent_receiver: CloudEventReceiver) -> None:
    threads_count, per_thread = 16, 10
    barrier = threading.Barrier(threads_count)

    with LocalQueue(cloudevent_receiver.url) as queue:

        def publish_many(thread_index: int) -> None:
            barrier.wait()
            for i in range(per_thread):
                queue.publish(
                    ValidationMessage(
                        org=f"org-{thread_index}", provider="openai", version=i, credential_id=f"{thread_index}-{i}"
                    )
                )

        threads = [threading.Thread(target=publish_many, args=(n,)) for n in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert queue.drain(timeout=20)

    received = [message_from_cloudevent(d.event)[0].credential_id for d in cloudevent_receiver.accepted]
    expected = {f"{t}-{i}" for t in range(threads_count) for i in range(per_thread)}
    assert len(received) == len(expected) and set(received) == expected
    # Per publishing thread, the single worker keeps publish order.
    for t in range(threads_count):
        mine = [c for c in received if c.startswith(f"{t}-")]
        assert mine == [f"{t}-{i}" for i in range(per_thread)]
