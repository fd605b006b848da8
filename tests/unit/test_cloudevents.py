"""The Pub/Sub message format and the CloudEvent around it, parsed as the validator does."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from cloudevents.http import from_http

from shared.adapters.cloudevents import (
    PUBSUB_EVENT_TYPE,
    message_attributes,
    message_data,
    message_from_cloudevent,
    ordering_key,
    pubsub_cloudevent_http,
)
from shared.domain.models import ValidationMessage
from tests.support.cloudevent_receiver import CloudEventReceiver

MESSAGE = ValidationMessage(org="acme", provider="openai", version=3, credential_id="cred-3")


def _event(data: object, event_type: str = PUBSUB_EVENT_TYPE) -> dict:
    return {"type": event_type, "data": data}


def _encoded(payload: object) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def test_message_format() -> None:
    assert json.loads(message_data(MESSAGE)) == MESSAGE.model_dump(mode="json", exclude_none=True)
    assert message_attributes(MESSAGE) == {
        "kind": "validate",
        "org": "acme",
        "provider": "openai",
        "credential_version": "3",
    }
    assert ordering_key(MESSAGE) == "acme/openai"
    revalidate = ValidationMessage(kind="revalidate")
    assert json.loads(message_data(revalidate)) == {"kind": "revalidate"}
    assert message_attributes(revalidate) == {"kind": "revalidate"}
    assert ordering_key(revalidate) == ""


def test_binary_cloudevent_request_round_trips() -> None:
    headers, body = pubsub_cloudevent_http(MESSAGE, 4, message_id="m-1", project="proj", topic="top")

    assert headers["ce-id"] == "m-1"
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == PUBSUB_EVENT_TYPE
    assert headers["ce-source"] == "//pubsub.googleapis.com/projects/proj/topics/top"
    assert headers["ce-time"].endswith("Z")
    assert headers["content-type"] == "application/json"
    data = json.loads(body)
    assert data["subscription"].startswith("projects/proj/subscriptions/")
    assert data["message"]["orderingKey"] == "acme/openai"
    assert message_from_cloudevent(from_http(headers, body)) == (MESSAGE, 4)


def test_functions_framework_conversion_of_a_raw_pubsub_push() -> None:
    """What the emulator sends (a raw push body), through functions-framework's conversion."""
    push_body = {
        "subscription": "projects/proj/subscriptions/sub",
        "message": {
            "data": base64.b64encode(message_data(MESSAGE)).decode(),
            "attributes": message_attributes(MESSAGE),
            "messageId": "42",
            "publishTime": "2026-01-01T00:00:00.000Z",
        },
    }
    with CloudEventReceiver() as receiver:
        response = httpx.post(f"{receiver.url}/projects/proj/topics/top", json=push_body, timeout=5)
        assert response.status_code == 200
        (delivery,) = receiver.deliveries

    assert delivery.attributes["source"] == "//pubsub.googleapis.com/projects/proj/topics/top"
    assert "subscription" not in delivery.data and "deliveryAttempt" not in delivery.data
    assert message_from_cloudevent(delivery.event) == (MESSAGE, 1)


@pytest.mark.parametrize(
    "event, complaint",
    [
        (
            _event({"message": {"data": _encoded({"kind": "validate"})}}, "google.cloud.storage.object.v1.finalized"),
            "type",
        ),
        (_event("not json"), "not JSON"),
        (_event([1, 2]), "JSON object"),
        (_event({"nomessage": {}}), "no Pub/Sub message"),
        (_event({"message": {"attributes": {}}}), "no data"),
        (_event({"message": {"data": "%%%"}}), "base64"),
        (_event({"message": {"data": base64.b64encode(b"\xff\xfe").decode()}}), "base64 of UTF-8"),
        (_event({"message": {"data": base64.b64encode(b"{oops").decode()}}), "not JSON"),
        (_event({"message": {"data": _encoded(["validate"])}}), "JSON object"),
        (_event({"message": {"data": _encoded({"kind": "validate", "secret": "sk-canary"})}}), "unexpected fields"),
        (_event({"message": {"data": _encoded({"kind": "explode"})}}), r"invalid fields: \['kind'\]"),
    ],
)
def test_malformed_events_raise_a_clear_value_error(event: dict, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as caught:
        message_from_cloudevent(event)
    assert "sk-canary" not in str(caught.value)
    assert "explode" not in str(caught.value)


@pytest.mark.parametrize("attempt, expected", [(None, 1), (0, 1), ("3", 1), (True, 1), (6, 6)])
def test_delivery_attempt_defaults_to_one(attempt: object, expected: int) -> None:
    data = {"message": {"data": base64.b64encode(message_data(MESSAGE)).decode()}}
    if attempt is not None:
        data["deliveryAttempt"] = attempt
    assert message_from_cloudevent(_event(data)) == (MESSAGE, expected)
