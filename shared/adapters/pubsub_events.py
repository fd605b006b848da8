"""Status-change events on a Pub/Sub topic (production), for notifiers and the frontend."""

from __future__ import annotations

import json
from typing import Any

from ..domain.errors import QueueError


class PubSubStatusEvents:
    def __init__(self, project: str | None, topic: str, timeout: float = 10.0):
        """`topic`: a short name in `project`, or a full projects/P/topics/T path."""
        from google.cloud import pubsub_v1  # lazy: embedded defaults never pay for it

        from ..settings import topic_parts

        self._client = pubsub_v1.PublisherClient()
        self._topic = self._client.topic_path(*topic_parts(topic, project))
        self._timeout = timeout

    def ensure_topic(self) -> None:
        """Create the topic unless it exists (local emulator set-up; Terraform in production)."""
        from google.api_core import exceptions

        try:
            self._client.create_topic(name=self._topic, timeout=self._timeout)
        except exceptions.AlreadyExists:
            pass
        except exceptions.GoogleAPICallError as exc:
            raise QueueError(f"Could not create the status events topic ({type(exc).__name__})") from exc

    def __call__(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, sort_keys=True).encode()
        attributes = {k: str(event[k]) for k in ("org", "provider", "from", "to") if event.get(k)}
        try:
            self._client.publish(self._topic, data, **attributes).result(timeout=self._timeout)
        except Exception as exc:
            raise QueueError("Status event could not be published") from exc
