"""One contract for every StatusEvents adapter: what a subscriber receives, and the lifecycle.

Each test body runs against the local adapter (a JSON-lines file, read back) and the
Pub/Sub adapter (Google's emulator; a pull subscription, made before the first publish,
reads back every message).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from shared.adapters.local_events import LocalStatusEvents
from shared.domain.errors import QueueError
from shared.domain.lifecycle import Status
from shared.ports import StatusEvent, StatusEvents
from tests.support.port_check import mismatches
from tests.support.pubsub_emulator import pubsub_emulator  # noqa: F401  (fixture)

PROJECT = "integrations-test"
RECEIVE_TIMEOUT = 15.0
AT = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
PAYLOAD_KEYS = {"org", "provider", "from", "to", "message", "at"}


def event(
    org: str = "acme",
    provider: str = "openai",
    before: Status = Status.VALIDATING,
    after: Status = Status.ACTIVE,
    message: str | None = None,
) -> StatusEvent:
    return StatusEvent(org=org, provider=provider, from_status=before, to_status=after, message=message, at=AT)


@dataclass
class EventsUnderTest:
    name: str
    events: StatusEvents
    received: Callable[[int], list[dict[str, Any]]]  # wait for that many payloads, in arrival order
    unpublishable: Callable[[], StatusEvents]  # an adapter whose publish cannot succeed


def _local(tmp_path: Path) -> Iterator[EventsUnderTest]:
    events = LocalStatusEvents(tmp_path / "data" / "status-events.jsonl")
    (tmp_path / "not-a-directory").write_text("")

    def received(count: int) -> list[dict[str, Any]]:
        return events.read()  # publish returns once the line is written

    try:
        yield EventsUnderTest(
            "local", events, received, lambda: LocalStatusEvents(tmp_path / "not-a-directory" / "status-events.jsonl")
        )
    finally:
        events.close()


def _pubsub() -> Iterator[EventsUnderTest]:
    from google.cloud import pubsub_v1

    from shared.adapters.pubsub_events import PubSubStatusEvents

    topic = f"status-{uuid.uuid4().hex[:12]}"
    events = PubSubStatusEvents(PROJECT, topic, timeout=5)
    events.ensure_topic()
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(PROJECT, f"{topic}-pull")
    subscriber.create_subscription(request={"name": subscription, "topic": f"projects/{PROJECT}/topics/{topic}"})
    payloads: list[dict[str, Any]] = []

    def received(count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + RECEIVE_TIMEOUT
        while len(payloads) < count and time.monotonic() < deadline:
            response = subscriber.pull(request={"subscription": subscription, "max_messages": 10}, timeout=5)
            for item in response.received_messages:
                payloads.append(json.loads(item.message.data))
                assert dict(item.message.attributes) == {
                    k: str(v) for k, v in payloads[-1].items() if k in ("org", "provider", "from", "to") and v
                }
            if response.received_messages:
                subscriber.acknowledge(
                    request={"subscription": subscription, "ack_ids": [m.ack_id for m in response.received_messages]}
                )
        return list(payloads)

    built: list[StatusEvents] = []

    def unpublishable() -> StatusEvents:  # a topic nobody created
        built.append(PubSubStatusEvents(PROJECT, f"missing-{uuid.uuid4().hex[:12]}", timeout=5))
        return built[-1]

    try:
        yield EventsUnderTest("pubsub", events, received, unpublishable)
    finally:
        for adapter in [events, *built]:
            adapter.close()
        subscriber.close()


@pytest.fixture(params=["local", "pubsub"])
def under_test(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EventsUnderTest]:
    if request.param == "local":
        yield from _local(tmp_path)
        return
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", request.getfixturevalue("pubsub_emulator"))
    yield from _pubsub()


def test_a_published_event_arrives_as_its_payload(under_test: EventsUnderTest) -> None:
    sent = event(message="Credential validated")

    under_test.events.publish(sent)

    assert under_test.received(1) == [sent.payload()]
    assert set(sent.payload()) == PAYLOAD_KEYS


def test_a_mapping_in_payload_form_arrives_unchanged(under_test: EventsUnderTest) -> None:
    payload = event(before=Status.ACTIVE, after=Status.ERROR, message="The provider refused the key").payload()

    under_test.events.publish(payload)

    assert under_test.received(1) == [payload]


def test_every_event_arrives_once(under_test: EventsUnderTest) -> None:
    sent = [event(org=f"org_{i}", provider="anthropic") for i in range(6)]

    for item in sent:
        under_test.events.publish(item)

    received = under_test.received(len(sent))
    assert sorted(received, key=lambda payload: payload["org"]) == [item.payload() for item in sent]


def test_the_adapter_offers_every_method_of_the_port(under_test: EventsUnderTest) -> None:
    assert mismatches(under_test.events, StatusEvents) == []


def test_ensure_topic_is_idempotent(under_test: EventsUnderTest) -> None:
    under_test.events.ensure_topic()
    under_test.events.ensure_topic()

    under_test.events.publish(event())

    assert under_test.received(1) == [event().payload()]


def test_close_is_idempotent_and_a_publish_after_it_raises_queue_error(under_test: EventsUnderTest) -> None:
    under_test.events.close()
    under_test.events.close()

    with pytest.raises(QueueError):
        under_test.events.publish(event())


def test_an_event_that_cannot_be_published_raises_queue_error_naming_nothing_of_it(under_test: EventsUnderTest) -> None:
    sent = event(org="canary_org", provider="deepseek", message="canary-message")

    with pytest.raises(QueueError) as raised:
        under_test.unpublishable().publish(sent)

    assert "canary" not in str(raised.value)
    assert "canary" not in raised.value.message
