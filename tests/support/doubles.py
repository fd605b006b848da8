"""Test doubles for what a test wants to control precisely (the queue adapters have their own
contract suite against the real local queue and Pub/Sub)."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.domain.errors import QueueError
from shared.domain.models import ValidationMessage

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


@lru_cache(maxsize=None)
def function_app(name: str, signature_type: str = "http") -> Any:
    """A function's app exactly as functions-framework builds it in Cloud Functions (one per name)."""
    import functions_framework

    saved = list(sys.path)  # create_app appends the function's directory to sys.path
    try:
        return functions_framework.create_app(target=name, source=str(ROOT / "functions" / name / "main.py"),
                                              signature_type=signature_type)
    finally:
        sys.path[:] = saved
