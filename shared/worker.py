"""What the validator function does with one CloudEvent."""

from __future__ import annotations

import logging
from typing import Any

from .domain.errors import IntegrationsError
from .logs import bind, reset_context
from .service import RetryLater

log = logging.getLogger("integrations.validator")


def handle_cloud_event(cloud_event: Any) -> str:
    """Ack (return) when done or when the message can never succeed; raise to be redelivered."""
    from .adapters.cloudevents import message_from_cloudevent
    from .container import get_service

    reset_context()
    service = get_service()
    try:
        message, attempt = message_from_cloudevent(cloud_event)
    except ValueError:
        log.warning("malformed validation message dropped")
        return "dropped: malformed"
    bind(org=message.org, provider=message.provider)
    try:
        outcome = service.handle_message(message, attempt)
    except RetryLater as retry:
        log.info("transient failure, asking for redelivery", extra={"fields": {"attempt": attempt, "outcome": str(retry)}})
        raise
    except IntegrationsError as error:
        if error.status >= 500:
            # Our side failed (store, KMS): redelivery may succeed; Pub/Sub's dead-letter bounds it.
            log.warning("validation message failed, asking for redelivery",
                        extra={"fields": {"code": error.code, "error_type": type(error).__name__}})
            raise
        # Permanent for this message (integration gone, credential missing...): ack it.
        log.warning("validation message not processed", extra={"fields": {"code": error.code}})
        return f"dropped: {error.code}"
    log.info("validation message handled", extra={"fields": {"attempt": attempt, "outcome": outcome}})
    return outcome
