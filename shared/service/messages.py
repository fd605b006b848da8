"""The validator function's use case: one message from the queue, whatever its kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .validation import Validation
    from .revalidation import Revalidation
    from ..domain.models import ValidationMessage


class Messages:
    def __init__(self, validation: Validation, revalidation: Revalidation):
        self._validation = validation
        self._revalidation = revalidation

    def handle(self, message: ValidationMessage, attempt: int = 1) -> str:
        """Idempotent; raises RetryLater when Pub/Sub must deliver again (see Validation.handle)."""
        if message.kind == "revalidate":  # the daily scheduler's message
            return self._revalidation.revalidate_all()
        return self._validation.handle(message, attempt)
