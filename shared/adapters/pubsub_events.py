"""StatusEvents on a Pub/Sub topic (production), for notifiers and the frontend.

The message data is the event's JSON payload; org, provider, from and to are also
attributes, so a subscription can filter on them. The client library reads
PUBSUB_EMULATOR_HOST itself; google-cloud-pubsub is imported in __init__ (cold start).
"""

from __future__ import annotations

import json
import threading
from typing import Any, Mapping

from ..domain.errors import QueueError
from ..ports import StatusEvent, status_event_payload

ATTRIBUTES = ("org", "provider", "from", "to")


class PubSubStatusEvents:
    def __init__(self, project: str | None, topic: str, timeout: float = 10.0):
        """`topic`: a short name in `project`, or a full projects/P/topics/T path."""
        from google.cloud import pubsub_v1  # lazy: embedded defaults never pay for it

        from ..settings import topic_parts

        self._client = pubsub_v1.PublisherClient()
        self._topic = self._client.topic_path(*topic_parts(topic, project))
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PubSubStatusEvents(topic={self._topic!r})"

    # -- the port -------------------------------------------------------------------

    def publish(self, event: StatusEvent | Mapping[str, Any]) -> None:
        """Publish and wait for the server's ack; any failure becomes QueueError."""
        payload = status_event_payload(event)
        data = json.dumps(payload, sort_keys=True).encode()
        attributes = {k: str(payload[k]) for k in ATTRIBUTES if payload.get(k)}
        if self._closed:  # the client would raise RuntimeError; say why instead
            raise QueueError("The status events publisher is closed")
        try:
            self._client.publish(self._topic, data, **attributes).result(timeout=self._timeout)
        except Exception as exc:
            raise QueueError(f"Status event could not be published ({type(exc).__name__})") from exc

    def ensure_topic(self) -> None:
        """Create the topic unless it exists (local emulator set-up; Terraform in production)."""
        from google.api_core import exceptions

        try:
            self._client.create_topic(name=self._topic, timeout=self._timeout)
        except exceptions.AlreadyExists:
            pass
        except exceptions.GoogleAPICallError as exc:
            raise QueueError(f"Could not create the status events topic ({type(exc).__name__})") from exc

    def close(self) -> None:
        """Flush pending batches and stop the publisher's background thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._client.stop()
