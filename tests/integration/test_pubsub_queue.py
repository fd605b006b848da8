"""PubSubQueue against Google's Pub/Sub emulator: set-up, the published message, failures."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from shared.adapters.cloudevents import message_from_cloudevent
from shared.domain.errors import QueueError
from shared.domain.models import ValidationMessage
from tests.support import pubsub_emulator as emulator_support
from tests.support.cloudevent_receiver import CloudEventReceiver
from tests.support.pubsub_emulator import pubsub_emulator  # noqa: F401  (fixture)

PROJECT = "integrations-test"
MESSAGE = ValidationMessage(org="acme", provider="openai", version=5, credential_id="cred-5")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emulator_env(pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    return pubsub_emulator


@pytest.fixture
def topic() -> str:
    return f"validation-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def queue(emulator_env: str, topic: str) -> Iterator[object]:
    from shared.adapters.pubsub_queue import PubSubQueue

    queue = PubSubQueue(PROJECT, topic, timeout=5)
    yield queue
    queue.close()


def _pull(subscription_path: str, count: int, timeout: float = 10.0) -> list:
    from google.cloud import pubsub_v1

    received: list = []
    deadline = time.monotonic() + timeout
    with pubsub_v1.SubscriberClient() as subscriber:
        while len(received) < count and time.monotonic() < deadline:
            response = subscriber.pull(request={"subscription": subscription_path, "max_messages": count}, timeout=5)
            received.extend(m.message for m in response.received_messages)
            if response.received_messages:
                subscriber.acknowledge(
                    request={
                        "subscription": subscription_path,
                        "ack_ids": [m.ack_id for m in response.received_messages],
                    }
                )
    return received


def test_the_published_message_has_the_fixed_format(queue, topic: str) -> None:
    from google.cloud import pubsub_v1

    queue.ensure_topic()
    with pubsub_v1.SubscriberClient() as subscriber:
        subscription = subscriber.subscription_path(PROJECT, f"{topic}-pull")
        subscriber.create_subscription(
            request={"name": subscription, "topic": queue.topic_path, "enable_message_ordering": True}
        )

    queue.publish(MESSAGE)
    queue.publish(ValidationMessage(kind="revalidate"))

    first, second = sorted(_pull(subscription, 2), key=lambda m: len(m.attributes), reverse=True)
    assert first.data == b'{"credential_id":"cred-5","kind":"validate","org":"acme","provider":"openai","version":5}'
    assert dict(first.attributes) == {
        "kind": "validate",
        "org": "acme",
        "provider": "openai",
        "credential_version": "5",
    }
    assert first.ordering_key == "acme/openai"
    assert second.data == b'{"kind":"revalidate"}'
    assert dict(second.attributes) == {"kind": "revalidate"}
    assert second.ordering_key == ""


def test_topic_and_push_subscription_set_up_is_idempotent_and_repoints(queue, topic: str) -> None:
    queue.ensure_topic()
    queue.ensure_topic()
    with CloudEventReceiver() as old, CloudEventReceiver() as new:
        path = queue.ensure_push_subscription(f"{topic}-push", f"{old.url}/projects/{PROJECT}/topics/{topic}")
        again = queue.ensure_push_subscription(f"{topic}-push", f"{new.url}/projects/{PROJECT}/topics/{topic}")
        assert path == again == f"projects/{PROJECT}/subscriptions/{topic}-push"

        queue.publish(MESSAGE)

        (delivery,) = new.wait_for(1, 10)
        assert message_from_cloudevent(delivery.event) == (MESSAGE, 1)
        assert old.deliveries == []


def test_publishing_to_a_missing_topic_raises_queue_error_then_recovers(queue) -> None:
    with pytest.raises(QueueError) as caught:
        queue.publish(MESSAGE)
    text = str(caught.value)
    assert "NotFound" in text
    assert "acme" not in text and "cred-5" not in text

    # The failed publish paused the ordering key; the queue resumes it.
    queue.ensure_topic()
    queue.publish(MESSAGE)


def test_an_unreachable_pubsub_raises_queue_error_within_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{closed_port}")
    from shared.adapters.pubsub_queue import PubSubQueue

    queue = PubSubQueue(PROJECT, "validation", timeout=1)
    started = time.monotonic()
    with pytest.raises(QueueError, match="Could not publish"):
        queue.publish(MESSAGE)
    assert time.monotonic() - started < 5
    queue.close()


def test_importing_the_queues_does_not_load_the_pubsub_client() -> None:
    code = (
        "import sys, shared.adapters.pubsub_queue, shared.adapters.local_queue, shared.adapters.cloudevents;"
        "loaded = [m for m in sys.modules if m.startswith(('google.cloud.pubsub', 'google.pubsub', 'google.api_core', 'grpc'))];"
        "assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_emulator_starts_once_per_session_and_quickly(pubsub_emulator: str) -> None:  # noqa: F811
    assert emulator_support.start_count == 1
    shared = emulator_support._shared
    assert shared is not None and shared.host == pubsub_emulator
    assert shared.startup_seconds is not None and shared.startup_seconds < emulator_support.START_TIMEOUT_SECONDS


def test_a_full_topic_path_needs_no_project(emulator_env: str, topic: str) -> None:
    """PUBSUB_TOPIC / STATUS_EVENTS_TOPIC may be projects/P/topics/T: P is the path's, not GCP_PROJECT."""
    from google.cloud import pubsub_v1

    from shared.adapters.pubsub_events import PubSubStatusEvents
    from shared.adapters.pubsub_queue import PubSubQueue

    queue = PubSubQueue(None, f"projects/{PROJECT}/topics/{topic}", timeout=5)
    events = PubSubStatusEvents(None, f"projects/{PROJECT}/topics/{topic}-events")
    try:
        assert queue.topic_path == f"projects/{PROJECT}/topics/{topic}"
        queue.ensure_topic()
        events.ensure_topic()
        with pubsub_v1.SubscriberClient() as subscriber:
            subscription = subscriber.subscription_path(PROJECT, f"{topic}-full-path")
            subscriber.create_subscription(
                request={"name": subscription, "topic": queue.topic_path, "enable_message_ordering": True}
            )
            push = queue.ensure_push_subscription(f"{topic}-push", "http://127.0.0.1:9/unused")
        assert push == f"projects/{PROJECT}/subscriptions/{topic}-push"
        queue.publish(MESSAGE)
        events.publish({"org": "acme", "provider": "openai", "from": "pending", "to": "active"})
        assert len(_pull(subscription, 1)) == 1
    finally:
        queue.close()
        events.close()
