"""What the validator function does with one CloudEvent."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException

from .domain.errors import IntegrationsError
from .logs import bind, reset_context
from .domain.errors import RetryLater

log = logging.getLogger("integrations.validator")


class Redeliver(HTTPException):
    """Answer 500 so Pub/Sub (or the local queue) delivers the message again.

    An HTTPException, not a raised error: Flask answers it without logging "Exception on
    ..." at ERROR with a stack trace, which every routine retry used to produce. Not an
    InternalServerError, so functions-framework's crash handler leaves it alone.
    """

    code = 500
    description = "Redelivery requested"


def handle_cloud_event(cloud_event: Any) -> str:
    """Ack (return) when done or when the message can never succeed; raise Redeliver to be redelivered."""
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
        outcome = service.messages.handle(message, attempt)
    except RetryLater as retry:
        # Routine: the provider is down or rate limiting; the next delivery tries again.
        log.warning(
            "provider unavailable, asking for redelivery",
            extra={
                "attempt": attempt,
                "max_deliveries": service.settings.validator_max_deliveries,
                "error_type": str(retry) or type(retry).__name__,
                "host": provider_host(service.settings, message.provider),
            },
        )
        raise Redeliver() from None
    except IntegrationsError as error:
        if error.status >= 500:
            # Our side failed (store, KMS): redelivery may succeed; Pub/Sub's dead-letter bounds it.
            cause = error.__cause__ or error.__context__
            log.error(
                "validation message failed on our side, asking for redelivery",
                extra={
                    "attempt": attempt,
                    "code": error.code,
                    "error_type": type(error).__name__,
                    "cause_type": type(cause).__name__ if cause else None,
                },
            )
            raise Redeliver() from None
        # Permanent for this message (integration gone, credential missing...): ack it.
        log.warning("validation message not processed", extra={"code": error.code})
        return f"dropped: {error.code}"
    log.info("validation message handled", extra={"attempt": attempt, "outcome": outcome})
    return outcome


def provider_host(settings: Any, provider: str | None) -> str | None:
    """The host a provider's check calls (from settings), for logs; None when unknown."""
    url = getattr(settings, f"{provider}_base_url", None) if provider else None
    if provider == "gcp":
        url = settings.gcp_token_uri
    return urlsplit(url).hostname if url else None
