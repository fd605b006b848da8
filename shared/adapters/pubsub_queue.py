"""The production ValidationQueue: publish to a Pub/Sub topic (Eventarc delivers it).

The message format is in shared/adapters/cloudevents.py. Messages of one integration
share an ordering key, so the publisher runs with message ordering on. The client
library reads PUBSUB_EMULATOR_HOST itself, so the same code talks to the emulator.
google-cloud-pubsub is imported here, in __init__, never at module import (cold start).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..domain.errors import QueueError
from ..domain.models import ValidationMessage
from .cloudevents import message_attributes, message_data, ordering_key

logger = logging.getLogger(__name__)


class PubSubQueue:
    def __init__(self, project: str | None, topic: str, *, timeout: float = 10.0) -> None:
        """`topic`: a short name in `project`, or a full projects/P/topics/T path (then P is used)."""
        from ..settings import topic_parts

        if not topic:
            raise ValueError("PubSubQueue needs a topic")
        project, topic = topic_parts(topic, project)
        from google.api_core import exceptions as api_exceptions
        from google.api_core import retry as api_retry
        from google.cloud import pubsub_v1

        self._pubsub = pubsub_v1
        self._api_exceptions = api_exceptions
        self._project = project
        self._timeout = timeout
        self._publisher = pubsub_v1.PublisherClient(
            publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
        )
        self._topic_path = self._publisher.topic_path(project, topic)
        self._lock = threading.Lock()
        self._closed = False
        # Transient errors are retried by the library, but never past our own timeout.
        self._retry = api_retry.Retry(
            initial=0.1,
            maximum=2.0,
            multiplier=2.0,
            timeout=timeout,
            predicate=api_retry.if_exception_type(
                api_exceptions.Aborted,
                api_exceptions.DeadlineExceeded,
                api_exceptions.InternalServerError,
                api_exceptions.ResourceExhausted,
                api_exceptions.ServiceUnavailable,
                api_exceptions.Unknown,
            ),
        )

    def __repr__(self) -> str:
        return f"PubSubQueue(topic={self._topic_path!r})"

    @property
    def topic_path(self) -> str:
        return self._topic_path

    def publish(self, message: ValidationMessage) -> None:
        """Publish and wait for the server's ack; any failure becomes QueueError."""
        if self._closed:  # the client would raise RuntimeError; say why instead
            raise QueueError("The validation queue is closed")
        key = ordering_key(message)
        try:
            future = self._publisher.publish(
                self._topic_path,
                message_data(message),
                ordering_key=key,
                retry=self._retry,
                timeout=self._timeout,
                **message_attributes(message),
            )
            future.result(timeout=self._timeout)
        except Exception as exc:
            if key:
                # A failed publish pauses its ordering key until resumed.
                self._resume(key)
            logger.warning(
                "publishing the validation message for %s/%s failed: %s",
                message.org,
                message.provider,
                type(exc).__name__,
            )
            raise QueueError(f"Could not publish the validation message ({type(exc).__name__})") from exc

    def ensure_topic(self) -> None:
        """Create the topic unless it exists (local emulator set-up; Terraform in production)."""
        try:
            self._publisher.create_topic(name=self._topic_path, timeout=self._timeout)
        except self._api_exceptions.AlreadyExists:
            pass
        except self._api_exceptions.GoogleAPICallError as exc:
            raise QueueError(f"Could not create the validation topic ({type(exc).__name__})") from exc

    def ensure_push_subscription(
        self,
        subscription: str,
        push_endpoint: str,
        *,
        min_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        ack_deadline_seconds: int = 60,
    ) -> str:
        """A push subscription delivering to `push_endpoint`, like Eventarc's; returns its path.

        Idempotent: an existing subscription is re-pointed at `push_endpoint` (the local
        server may have moved to another port).
        """
        subscriber = self._pubsub.SubscriberClient()
        subscription_path = subscriber.subscription_path(self._project, subscription)
        push_config = self._pubsub.types.PushConfig(push_endpoint=push_endpoint)
        request: dict[str, Any] = {
            "name": subscription_path,
            "topic": self._topic_path,
            "push_config": push_config,
            "ack_deadline_seconds": ack_deadline_seconds,
            "enable_message_ordering": True,
            "retry_policy": {
                "minimum_backoff": _duration(min_backoff_seconds),
                "maximum_backoff": _duration(max_backoff_seconds),
            },
        }
        try:
            with subscriber:
                try:
                    subscriber.create_subscription(request=request, timeout=self._timeout)
                except self._api_exceptions.AlreadyExists:
                    subscriber.modify_push_config(
                        request={"subscription": subscription_path, "push_config": push_config},
                        timeout=self._timeout,
                    )
        except self._api_exceptions.GoogleAPICallError as exc:
            raise QueueError(f"Could not create the push subscription ({type(exc).__name__})") from exc
        return subscription_path

    def drain(self, timeout: float | None = None) -> bool:
        """True at once: publish waits for every message's ack, so nothing is pending here."""
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush pending batches and stop the publisher's background thread.

        `timeout` is the port's; nothing is pending here (see `drain`).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._publisher.stop()

    def _resume(self, key: str) -> None:
        try:
            self._publisher.resume_publish(self._topic_path, key)
        except Exception:  # resuming is best effort; the next publish reports its own error
            logger.debug("could not resume ordering key after a failed publish")


def _duration(seconds: float) -> dict[str, int]:
    whole = int(seconds)
    return {"seconds": whole, "nanos": int(round((seconds - whole) * 1e9))}
