"""Test doubles for what a test wants to control precisely (the queue adapters have their own
contract suite against the real local queue and Pub/Sub)."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from shared.domain.errors import QueueError
from shared.domain.models import ValidationMessage
from shared.ports import StatusEvent, status_event_payload

ROOT = Path(__file__).resolve().parents[2]


class RecordingQueue:
    """A ValidationQueue that records what it is given; `fail` / `fail_next` make publishes raise QueueError."""

    def __init__(self) -> None:
        self.messages: list[ValidationMessage] = []
        self.fail = 0

    def fail_next(self, count: int = 1) -> None:
        self.fail = count

    def publish(self, message: ValidationMessage) -> None:
        if self.fail:
            self.fail -= 1
            raise QueueError("The queue is down")
        self.messages.append(message)

    def ensure_topic(self) -> None:
        pass

    def drain(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float = 5.0) -> None:
        pass


class RecordingStatusEvents:
    """A StatusEvents that keeps every published payload in `events` (the adapters have their
    own contract suite against the local file and Pub/Sub)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def publish(self, event: StatusEvent | Mapping[str, Any]) -> None:
        self.events.append(status_event_payload(event))

    def ensure_topic(self) -> None:
        pass

    def close(self) -> None:
        pass


@lru_cache(maxsize=None)
def function_app(name: str, signature_type: str = "http") -> Any:
    """A function's app exactly as functions-framework builds it in Cloud Functions (one per name)."""
    import functions_framework

    saved = list(sys.path)  # create_app appends the function's directory to sys.path
    try:
        return functions_framework.create_app(
            target=name, source=str(ROOT / "functions" / name / "main.py"), signature_type=signature_type
        )
    finally:
        sys.path[:] = saved
