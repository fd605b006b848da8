"""The Pub/Sub message and the CloudEvent that carries it to the validator function.

Wire format (fixed; the validator function and both queues rely on it):
- Pub/Sub message data: UTF-8 JSON of `ValidationMessage.model_dump(mode="json", exclude_none=True)`.
- attributes: `kind`, and when set `org`, `provider`, `credential_version` (a string).
- ordering key: f"{org}/{provider}" when `org` is set.

In production Eventarc wraps the Pub/Sub push body in a CloudEvent of type
`google.cloud.pubsub.topic.v1.messagePublished` whose data is
{"message": {...}, "subscription": ..., "deliveryAttempt": n}. The local queue builds the
same request; `message_from_cloudevent` also reads what functions-framework makes of a
raw Pub/Sub push (the emulator): data {"message": {"@type", "data", "attributes",
"messageId", "publishTime"}} with no subscription and no delivery attempt.

Standard library and pydantic only: imported by embedded-default code.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..domain.models import ValidationMessage, iso, utcnow

PUBSUB_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
# The only keys a serialized message may have: it names a credential, never holds one.
ALLOWED_KEYS: frozenset[str] = frozenset(ValidationMessage.model_fields)


def message_data(message: ValidationMessage) -> bytes:
    """The Pub/Sub message data: compact UTF-8 JSON, unset fields left out."""
    payload = message.model_dump(mode="json", exclude_none=True)
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def message_attributes(message: ValidationMessage) -> dict[str, str]:
    """Attributes for filtering and logs (Pub/Sub attributes are strings)."""
    attributes = {"kind": message.kind}
    if message.org is not None:
        attributes["org"] = message.org
    if message.provider is not None:
        attributes["provider"] = message.provider
    if message.version is not None:
        attributes["credential_version"] = str(message.version)
    return attributes


def ordering_key(message: ValidationMessage) -> str:
    """Messages for one integration are delivered in order; "" means unordered."""
    if message.org is None:
        return ""
    return f"{message.org}/{message.provider or ''}"


def pubsub_cloudevent_http(
    message: ValidationMessage,
    attempt: int = 1,
    *,
    message_id: str | None = None,
    publish_time: datetime | None = None,
    project: str = "local",
    topic: str = "integration-validation",
    subscription: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """The binary-mode CloudEvent HTTP request Eventarc would POST for this message.

    Pass the same `message_id` and `publish_time` on every redelivery (Pub/Sub keeps
    them); only `attempt` grows.
    """
    message_id = message_id or uuid.uuid4().hex
    published = iso(publish_time or utcnow()) or ""
    pubsub_message: dict[str, Any] = {
        "data": base64.b64encode(message_data(message)).decode("ascii"),
        "attributes": message_attributes(message),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": published,
        "publish_time": published,
    }
    key = ordering_key(message)
    if key:
        pubsub_message["orderingKey"] = key
    body = {
        "message": pubsub_message,
        "subscription": f"projects/{project}/subscriptions/{subscription or topic + '-local'}",
        "deliveryAttempt": attempt,
    }
    headers = {
        "ce-id": message_id,
        "ce-specversion": "1.0",
        "ce-type": PUBSUB_EVENT_TYPE,
        "ce-source": f"//pubsub.googleapis.com/projects/{project}/topics/{topic}",
        "ce-time": published,
        "content-type": "application/json",
    }
    return headers, json.dumps(body, separators=(",", ":")).encode("utf-8")


def message_from_cloudevent(event: Any) -> tuple[ValidationMessage, int]:
    """The validation message a CloudEvent carries, and its delivery attempt (default 1).

    `event` is a `cloudevents` CloudEvent (what functions-framework passes) or a mapping
    with "type" and "data". Raises ValueError, naming what is wrong but never a value,
    when the event is not a well-formed validation message (the validator acks and drops it).
    """
    event_type = _attribute(event, "type")
    if event_type is not None and event_type != PUBSUB_EVENT_TYPE:
        raise ValueError(f"unexpected CloudEvent type {str(event_type)[:100]!r}")
    data = _event_data(event)
    pubsub_message = data.get("message")
    if not isinstance(pubsub_message, Mapping):
        raise ValueError("CloudEvent data has no Pub/Sub message")
    payload = _decode_payload(pubsub_message.get("data"))
    unknown = set(payload) - ALLOWED_KEYS
    if unknown:
        raise ValueError(f"validation message has unexpected fields: {sorted(unknown)[:10]}")
    try:
        message = ValidationMessage.model_validate(payload)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        raise ValueError(f"validation message has invalid fields: {fields}") from None
    return message, _delivery_attempt(data.get("deliveryAttempt"))


def _attribute(event: Any, name: str) -> Any:
    getter = getattr(event, "get", None)
    return getter(name) if callable(getter) else None


def _event_data(event: Any) -> Mapping[str, Any]:
    data = event.get("data") if isinstance(event, Mapping) else getattr(event, "data", None)
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except ValueError:
            raise ValueError("CloudEvent data is not JSON") from None
    if not isinstance(data, Mapping):
        raise ValueError("CloudEvent data is not a JSON object")
    return data


def _decode_payload(encoded: Any) -> dict[str, Any]:
    if not isinstance(encoded, str) or not encoded:
        raise ValueError("Pub/Sub message has no data")
    try:
        raw = base64.b64decode(encoded, validate=True)
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("Pub/Sub message data is not base64 of UTF-8") from None
    except ValueError:
        raise ValueError("Pub/Sub message data is not JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("Pub/Sub message data is not a JSON object")
    return payload


def _delivery_attempt(value: Any) -> int:
    """Pub/Sub sets deliveryAttempt only with a dead-letter policy; absent means first."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return 1


__all__ = [
    "ALLOWED_KEYS",
    "PUBSUB_EVENT_TYPE",
    "message_attributes",
    "message_data",
    "message_from_cloudevent",
    "ordering_key",
    "pubsub_cloudevent_http",
]
