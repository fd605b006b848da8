"""The service's Google backends in the tests: BigQuery (bqemulator), the Cloud KMS stand-in and
Google's Pub/Sub emulator, with unique names per run, and what they hold for the canary search."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Any, Iterator


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for the length of a block (the Pub/Sub client reads them once)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class GoogleBackends:
    """Settings and test-side access for a service on bqemulator, the KMS stand-in and the Pub/Sub emulator.

    Every name is unique to this instance (dataset, topics, key), so runs never see each
    other's data. `prepare()` creates the topics and an audit pull subscription on each, so
    every message the service publishes can be read back and searched; `dump()` returns
    every row of every table and every message, for the canary search.
    """

    def __init__(self, bq_url: str, pubsub_host: str, kms: Any, project: str) -> None:
        suffix = uuid.uuid4().hex[:12]
        self.bq_url = bq_url
        self.pubsub_host = pubsub_host
        self.kms = kms
        self.project = project
        self.dataset = f"e2e_{suffix}"
        self.topic = f"validation-{suffix}"
        self.status_topic = f"status-events-{suffix}"
        self.key_name = kms.add_key(f"projects/{project}/locations/global/keyRings/e2e/cryptoKeys/{suffix}")
        self.counts: dict[str, int] = {}
        self._messages: dict[str, list[bytes]] = {self.topic: [], self.status_topic: []}  # drained so far

    def env(self) -> dict[str, str]:
        return {
            "STORE_BACKEND": "bigquery",
            "GCP_PROJECT": self.project,
            "BQ_DATASET": self.dataset,
            "BIGQUERY_EMULATOR_HOST": self.bq_url,
            "KMS_BACKEND": "gcp",
            "KMS_KEY_NAME": self.key_name,
            "KMS_ENDPOINT": self.kms.endpoint,
            "QUEUE_BACKEND": "pubsub",
            "PUBSUB_TOPIC": self.topic,
            "STATUS_EVENTS_TOPIC": self.status_topic,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
        }

    def _audit_subscription(self, topic: str) -> str:
        return f"projects/{self.project}/subscriptions/{topic}-e2e-audit"

    def prepare(self) -> None:
        """Both topics, each with a pull subscription that keeps a copy of every message."""
        from google.api_core import exceptions
        from google.cloud import pubsub_v1

        with _environ(PUBSUB_EMULATOR_HOST=self.pubsub_host):
            publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
            with subscriber:
                for topic in (self.topic, self.status_topic):
                    path = publisher.topic_path(self.project, topic)
                    try:
                        publisher.create_topic(name=path, timeout=10)
                    except exceptions.AlreadyExists:
                        pass
                    subscriber.create_subscription(
                        request={"name": self._audit_subscription(topic), "topic": path}, timeout=10
                    )
            publisher.stop()

    def bigquery(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=self.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": self.bq_url}
        )

    def dump(self) -> list[tuple[str, bytes]]:
        """Every row of every table of the dataset, and every message of both topics, as bytes."""
        from shared.adapters.bigquery_store import TABLES

        found: list[tuple[str, bytes]] = []
        client = self.bigquery()
        try:
            for table in TABLES:
                rows = list(client.query(f"SELECT * FROM `{self.project}.{self.dataset}.{table}`").result())
                self.counts[table] = len(rows)
                found += [(f"bigquery {table} row {i}", _row_bytes(row)) for i, row in enumerate(rows)]
        finally:
            client.close()
        for topic in (self.topic, self.status_topic):
            messages = self._messages[topic]
            messages += self._drain(self._audit_subscription(topic))  # pulled messages are gone: keep them
            self.counts[topic] = len(messages)
            found += [(f"pubsub {topic} message {i}", m) for i, m in enumerate(messages)]
        return found

    def _drain(self, subscription: str) -> list[bytes]:
        from google.api_core import exceptions
        from google.cloud import pubsub_v1

        messages: list[bytes] = []
        with _environ(PUBSUB_EMULATOR_HOST=self.pubsub_host), pubsub_v1.SubscriberClient() as subscriber:
            while True:
                try:
                    response = subscriber.pull(request={"subscription": subscription, "max_messages": 500}, timeout=2)
                except exceptions.DeadlineExceeded:
                    break
                if not response.received_messages:
                    break
                for received in response.received_messages:
                    message = received.message
                    attributes = "".join(f"{k}={v}\n" for k, v in message.attributes.items())
                    messages.append(bytes(message.data) + b"\n" + attributes.encode())
                subscriber.acknowledge(
                    request={"subscription": subscription, "ack_ids": [r.ack_id for r in response.received_messages]}
                )
        return messages

    def cleanup(self) -> None:
        """Drop the dataset and the audit subscriptions (the emulators outlive this run)."""
        from google.cloud import pubsub_v1

        client = self.bigquery()
        try:
            client.delete_dataset(f"{self.project}.{self.dataset}", delete_contents=True, not_found_ok=True)
        finally:
            client.close()
        with _environ(PUBSUB_EMULATOR_HOST=self.pubsub_host), pubsub_v1.SubscriberClient() as subscriber:
            for topic in (self.topic, self.status_topic):
                try:
                    subscriber.delete_subscription(request={"subscription": self._audit_subscription(topic)}, timeout=5)
                except Exception:  # noqa: BLE001 - best effort; the emulator is ephemeral anyway
                    pass


def _row_bytes(row: Any) -> bytes:
    """A row's values as bytes: BYTES columns raw, everything else as text."""
    parts = [v if isinstance(v, bytes) else str(v).encode() for v in row.values()]
    return b"\n".join(parts)
