"""One contract for every ValidationQueue: what the validator function receives.

Each test body runs against the local queue (HTTP CloudEvent, like Eventarc) and the
Pub/Sub queue (the emulator pushing to a functions-framework app, which turns the raw
push into a CloudEvent). The receiver is a real functions-framework CloudEvent app.
The lifecycle the port declares (ensure_topic, drain, close) is proven at the end.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Iterator

import pytest

from shared.adapters.cloudevents import ALLOWED_KEYS, PUBSUB_EVENT_TYPE, message_from_cloudevent
from shared.adapters.local_queue import LocalQueue
from shared.domain.errors import QueueError
from shared.domain.models import ValidationMessage
from shared.ports import ValidationQueue
from tests.support.cloudevent_receiver import CloudEventReceiver
from tests.support.port_check import mismatches
from tests.support.pubsub_emulator import pubsub_emulator  # noqa: F401  (fixture)

PROJECT = "integrations-test"
DELIVERY_TIMEOUT = 15.0


@dataclass
class QueueUnderTest:
    name: str
    queue: ValidationQueue
    receiver: CloudEventReceiver
    # Whether a redelivery reports its attempt number. The local queue does, as does
    # Pub/Sub with a dead-letter policy; the emulator's push body has no deliveryAttempt.
    counts_attempts: bool


@pytest.fixture(params=["local", "pubsub"])
def under_test(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[QueueUnderTest]:
    with CloudEventReceiver() as receiver:
        if request.param == "local":
            queue = LocalQueue(receiver.url, max_attempts=3, backoff=0.05, timeout=5)
            try:
                yield QueueUnderTest("local", queue, receiver, counts_attempts=True)
            finally:
                queue.close()
            return

        host = request.getfixturevalue("pubsub_emulator")
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host)
        from shared.adapters.pubsub_queue import PubSubQueue

        topic = f"validation-{uuid.uuid4().hex[:12]}"
        queue = PubSubQueue(PROJECT, topic, timeout=10)
        queue.ensure_topic()
        # The topic in the path lets functions-framework name the CloudEvent source.
        queue.ensure_push_subscription(
            f"{topic}-push",
            f"{receiver.url}/projects/{PROJECT}/topics/{topic}",
            min_backoff_seconds=0.1,
            max_backoff_seconds=1,
        )
        try:
            yield QueueUnderTest("pubsub", queue, receiver, counts_attempts=False)
        finally:
            queue.close()


def _pubsub_message(delivery) -> dict:
    assert isinstance(delivery.data, dict)
    return delivery.data["message"]


def _payload(delivery) -> dict:
    return json.loads(base64.b64decode(_pubsub_message(delivery)["data"]).decode("utf-8"))


def test_a_published_message_reaches_the_function_as_a_cloudevent(under_test: QueueUnderTest) -> None:
    sent = ValidationMessage(kind="validate", org="acme", provider="openai", version=2, credential_id="cred-1")

    under_test.queue.publish(sent)

    (delivery,) = under_test.receiver.wait_for(1, DELIVERY_TIMEOUT)
    assert delivery.attributes["type"] == PUBSUB_EVENT_TYPE
    assert delivery.attributes["source"].startswith("//pubsub.googleapis.com/projects/")
    assert delivery.attributes["id"]
    assert delivery.attributes["time"]
    assert message_from_cloudevent(delivery.event) == (sent, 1)


def test_attributes_name_the_integration_and_never_hold_data(under_test: QueueUnderTest) -> None:
    under_test.queue.publish(ValidationMessage(org="acme", provider="anthropic", version=7, credential_id="c7"))
    under_test.queue.publish(ValidationMessage(kind="revalidate"))

    deliveries = under_test.receiver.wait_for(2, DELIVERY_TIMEOUT)
    attributes = sorted((_pubsub_message(d)["attributes"] for d in deliveries), key=len, reverse=True)
    assert attributes == [
        {"kind": "validate", "org": "acme", "provider": "anthropic", "credential_version": "7"},
        {"kind": "revalidate"},
    ]


def test_messages_of_one_integration_arrive_in_publish_order(under_test: QueueUnderTest) -> None:
    sent = [ValidationMessage(org="acme", provider="gemini", version=v, credential_id=f"c{v}") for v in range(1, 6)]

    for message in sent:
        under_test.queue.publish(message)

    deliveries = under_test.receiver.wait_for(len(sent), DELIVERY_TIMEOUT)
    assert [message_from_cloudevent(d.event)[0] for d in deliveries] == sent


def test_several_messages_all_arrive_once_each(under_test: QueueUnderTest) -> None:
    sent = [ValidationMessage(org=f"org-{i}", provider="openai", version=1, credential_id=f"c{i}") for i in range(8)]

    for message in sent:
        under_test.queue.publish(message)

    deliveries = under_test.receiver.wait_for(len(sent), DELIVERY_TIMEOUT)
    received = [message_from_cloudevent(d.event)[0] for d in deliveries]
    assert sorted(received, key=lambda m: m.org or "") == sent
    assert len({d.attributes["id"] for d in deliveries}) == len(sent)


def test_a_failed_delivery_is_delivered_again(under_test: QueueUnderTest) -> None:
    under_test.receiver.fail_next(1)
    sent = ValidationMessage(org="acme", provider="deepseek", version=3, credential_id="c3")

    under_test.queue.publish(sent)

    under_test.receiver.wait_for(1, DELIVERY_TIMEOUT)
    failed, redelivered = under_test.receiver.deliveries[:2]
    assert (failed.status, redelivered.status) == (500, 200)
    # A redelivery is the same Pub/Sub message (same id), not a new publish.
    assert _pubsub_message(failed)["messageId"] == _pubsub_message(redelivered)["messageId"]
    first_message, first_attempt = message_from_cloudevent(failed.event)
    again_message, again_attempt = message_from_cloudevent(redelivered.event)
    assert first_message == again_message == sent
    assert first_attempt == 1
    if under_test.counts_attempts:
        assert again_attempt == 2
    else:
        assert again_attempt >= 1


def test_a_message_carries_only_the_fields_that_name_a_credential(under_test: QueueUnderTest) -> None:
    under_test.queue.publish(ValidationMessage(org="acme", provider="openai", version=1, credential_id="c1"))
    under_test.queue.publish(ValidationMessage(kind="revalidate", org="acme"))

    deliveries = under_test.receiver.wait_for(2, DELIVERY_TIMEOUT)
    payloads = sorted((_payload(d) for d in deliveries), key=len, reverse=True)
    assert set(payloads[0]) == ALLOWED_KEYS == {"kind", "org", "provider", "version", "credential_id"}
    assert payloads[1] == {"kind": "revalidate", "org": "acme"}
    for delivery in deliveries:
        assert set(_pubsub_message(delivery)["attributes"]) <= {"kind", "org", "provider", "credential_version"}


# -- lifecycle: declared on the port (shared/ports.py), called without getattr ----------


def test_the_queue_offers_every_method_of_the_port(under_test: QueueUnderTest) -> None:
    assert mismatches(under_test.queue, ValidationQueue) == []


def test_ensure_topic_is_idempotent(under_test: QueueUnderTest) -> None:
    under_test.queue.ensure_topic()
    under_test.queue.ensure_topic()
    sent = ValidationMessage(org="acme", provider="openai", version=1, credential_id="c1")

    under_test.queue.publish(sent)

    (delivery,) = under_test.receiver.wait_for(1, DELIVERY_TIMEOUT)
    assert message_from_cloudevent(delivery.event) == (sent, 1)


def test_drain_returns_once_published_messages_have_left(under_test: QueueUnderTest) -> None:
    assert under_test.queue.drain(timeout=DELIVERY_TIMEOUT) is True  # nothing published yet
    sent = ValidationMessage(org="acme", provider="gemini", version=2, credential_id="c2")
    under_test.queue.publish(sent)

    assert under_test.queue.drain(timeout=DELIVERY_TIMEOUT) is True

    (delivery,) = under_test.receiver.wait_for(1, DELIVERY_TIMEOUT)
    assert message_from_cloudevent(delivery.event)[0] == sent


def test_close_is_idempotent_and_a_publish_after_it_raises_queue_error(under_test: QueueUnderTest) -> None:
    under_test.queue.close()
    under_test.queue.close(timeout=1.0)

    with pytest.raises(QueueError):
        under_test.queue.publish(ValidationMessage(org="acme", provider="openai", version=1, credential_id="c1"))
    assert under_test.queue.drain(timeout=1.0) is True
