"""The embedded ValidationQueue: POSTs the Eventarc-shaped CloudEvent to the local validator.

`publish` only enqueues (setup answers 202 at once). One daemon worker, started on the
first publish, delivers messages in order, and redelivers on a 5xx, a 429 or a
connection error with bounded exponential backoff, counting the delivery attempt
like Pub/Sub does; after `max_attempts` it gives up and logs a warning naming the
integration (never a secret: the message holds none).

`token_file`: where `serve` keeps the validator's token for this run (see
shared/validator_token.py); read at every post, so a queue in another process
(`revalidate`) follows a server restart. No file: no token sent.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..domain.errors import QueueError
from ..domain.models import ValidationMessage, utcnow
from .cloudevents import pubsub_cloudevent_http

if TYPE_CHECKING:
    import httpx  # imported on first publish: a function that only reads never pays for it (cold start)

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 10.0
_STOP = object()


@dataclass
class _Envelope:
    """One message and what Pub/Sub would keep across its redeliveries."""

    message: ValidationMessage
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    publish_time: datetime = field(default_factory=utcnow)


class LocalQueue:
    def __init__(
        self,
        url: str,
        max_attempts: int = 5,
        backoff: float = 0.5,
        timeout: float = 10,
        *,
        max_pending: int = 1000,
        project: str = "local",
        topic: str = "integration-validation",
        transport: httpx.BaseTransport | None = None,
        token_file: Path | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._url = url
        self._max_attempts = max_attempts
        self._backoff = max(0.0, backoff)
        self._timeout = timeout
        self._project = project
        self._topic = topic
        self._transport = transport
        self._token_file = token_file
        self._target = urlsplit(url).netloc  # for logs: host:port, never a query string
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # published, not yet delivered or given up
        self._closed = False
        self._stopping = threading.Event()  # wakes a worker sleeping in backoff
        self._worker: threading.Thread | None = None
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"LocalQueue(url={self._url!r}, pending={self._pending})"

    # -- the port -------------------------------------------------------------------

    def publish(self, message: ValidationMessage) -> None:
        """Enqueue and return at once. QueueError only when the queue is closed or full."""
        with self._lock:
            if self._closed:
                raise QueueError("The local validation queue is closed")
            try:
                self._queue.put_nowait(_Envelope(message))
            except queue.Full:
                raise QueueError("The local validation queue is full") from None
            self._pending += 1
            self._start_worker()

    # -- lifecycle ------------------------------------------------------------------

    def ensure_topic(self) -> None:
        """Nothing to create: messages go straight to the validator's URL."""

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every published message is delivered or given up; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting messages, deliver what is queued (up to `timeout`), stop the worker."""
        with self._lock:
            already_closed = self._closed
            self._closed = True
        if already_closed:
            return
        if not self.drain(timeout):
            logger.warning("local validation queue closed with %d message(s) undelivered", self._pending)
        self._stopping.set()
        worker = self._worker
        if worker is not None:
            self._queue.put(_STOP)
            worker.join(timeout=max(1.0, self._timeout))
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> "LocalQueue":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the worker -----------------------------------------------------------------

    def _start_worker(self) -> None:
        """Called with the lock held: one worker, started on first use."""
        if self._worker is None:
            import httpx

            self._client = httpx.Client(timeout=self._timeout, transport=self._transport)
            self._worker = threading.Thread(target=self._run, name="local-validation-queue", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, _Envelope)
            try:
                self._deliver(item)
            except Exception:  # never let one message kill the worker
                logger.exception("local validation queue: unexpected error delivering a message")
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, envelope: _Envelope) -> None:
        message = envelope.message
        outcome = "not attempted"
        for attempt in range(1, self._max_attempts + 1):
            if self._stopping.is_set():
                outcome = "queue closed"
                break
            outcome = self._post(envelope, attempt)
            if outcome == "delivered":
                return
            if outcome.startswith("rejected"):
                break
            if attempt < self._max_attempts:
                self._stopping.wait(min(self._backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))
        logger.warning(
            "validation message for %s/%s (kind %s) not delivered: %s",
            message.org,
            message.provider,
            message.kind,
            outcome,
            extra={"kind": message.kind, "outcome": outcome, "target": self._target},
        )

    def _post(self, envelope: _Envelope, attempt: int) -> str:
        """One delivery: "delivered", "retry: ..." or "rejected: ..." (a 4xx is final)."""
        headers, body = pubsub_cloudevent_http(
            envelope.message,
            attempt,
            message_id=envelope.message_id,
            publish_time=envelope.publish_time,
            project=self._project,
            topic=self._topic,
        )
        assert self._client is not None
        import httpx

        from .. import validator_token

        token = validator_token.read(self._token_file) if self._token_file else None
        if token:
            headers[validator_token.HEADER] = token
        try:
            response = self._client.post(self._url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            # Routine (the server is restarting): a line to explain the redelivery, no stack trace.
            logger.warning(
                "validation delivery attempt %d failed: %s",
                attempt,
                type(exc).__name__,
                extra={"attempt": attempt, "error_type": type(exc).__name__, "target": self._target},
            )
            return f"retry: {type(exc).__name__} after {attempt} attempt(s)"
        status = response.status_code
        if status < 300:
            return "delivered"
        if status >= 500 or status == 429:
            # The validator asked for redelivery and logged why; this line ties the two together.
            logger.info(
                "validation delivery attempt %d answered HTTP %d",
                attempt,
                status,
                extra={"attempt": attempt, "status": status, "target": self._target},
            )
            return f"retry: HTTP {status} after {attempt} attempt(s)"
        return f"rejected: HTTP {status}"
