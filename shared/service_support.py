"""Small helpers the use cases share: constants, ids, cursors, messages, retries."""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from .domain.errors import (
    BadRequestError,
    IntegrationsError,
    InvalidTransitionError,
    catalogue_message,
)
from .domain.models import CredentialRecord, CredentialRef, Event, Integration
from .ports import ValidationResult

log = logging.getLogger("shared.service")

CAS_ATTEMPTS = 25
ORPHAN_AGE = timedelta(minutes=15)
# How far past its own time bound a validation may still be running: the local queue's and
# Pub/Sub's redelivery backoff between attempts.
REDELIVERY_SLACK = timedelta(seconds=60)
REVALIDATION_CONCURRENCY = 4
QUEUE_FAILED = "Validation could not be queued: call validate to retry"
SYSTEM = "system"


# What an audit event records, computed from the integration's new state:
# (action, actor, outcome, fingerprint, details).
AuditSpec = Callable[[Integration], tuple[str, str, str, "str | None", dict[str, Any]]]


@dataclass(frozen=True)
class Plan:
    """One write: the integration's new state (None deletes it) and the credential rows that
    are stored and destroyed with it."""

    item: Integration | None
    put: tuple[CredentialRecord, ...] = ()
    destroy: frozenset[str] = frozenset()


class RetryLater(Exception):
    """A transient failure in the validator function: raise so Pub/Sub redelivers."""


def stuck_after(settings: Any) -> timedelta:
    """A validation still pending or validating after this long lost its message (a crash):
    one validation is bounded by VALIDATION_TIMEOUT_SECONDS, redeliveries add their backoff."""
    return timedelta(seconds=settings.validation_timeout_seconds) + REDELIVERY_SLACK


def associated_data(org: str, provider: str, version: int, credential_id: str) -> bytes:
    """What a ciphertext is bound to: a blob copied to another row does not decrypt, nor does an
    older ciphertext of the same org, provider and version (versions repeat after a failed rotation)."""
    return f"integrations/v2|{org}|{provider}|{version}|{credential_id}".encode()


def legacy_associated_data(org: str, provider: str, version: int) -> bytes:
    """The binding before credential ids. Never accepted by a normal decrypt; only
    `rewrap --legacy-binding` reads it, to seal such rows again under the current binding."""
    return f"integrations/v1|{org}|{provider}|{version}".encode()


class StaleValidation(IntegrationsError):
    """The credential a validation was about is no longer the one targeted."""

    code = "invalid_transition"

    def __init__(self) -> None:
        super().__init__("The credential changed while it was being validated")


_id_lock = threading.Lock()
_last_id_ns = 0


def event_id() -> str:
    """Grows with time, strictly within a process, so events of one millisecond keep their
    order (the list is sorted by (at, id)); the random tail keeps ids unique across processes."""
    global _last_id_ns
    with _id_lock:
        _last_id_ns = max(_last_id_ns + 1, time.time_ns())
        stamp = _last_id_ns
    return f"{stamp:020d}-{uuid.uuid4().hex[:8]}"


def result_message(result: ValidationResult) -> str:
    base = catalogue_message(result.outcome)
    return f"{base}: {result.detail}" if result.detail else base


def credential_ref(record: CredentialRecord) -> CredentialRef:
    return CredentialRef(credential_id=record.credential_id, version=record.version,
                         fingerprint=record.fingerprint, hint=record.hint, created_at=record.created_at)


def referenced_ids(item: Integration | None) -> frozenset[str]:
    if item is None:
        return frozenset()
    return frozenset(c.credential_id for c in (item.credential, item.rotation) if c)


def fingerprint_of(item: Integration) -> str | None:
    return item.credential.fingerprint if item.credential else None


def target_fingerprint(item: Integration, target: str) -> str | None:
    ref = item.rotation if target == "rotation" else item.credential
    return ref.fingerprint if ref else None


def page_size(limit: Any) -> int:
    if limit is None or limit == "":
        return 50
    try:
        size = int(limit)
    except (TypeError, ValueError):
        raise BadRequestError("Query parameter 'limit' must be an integer from 1 to 500") from None
    if not 1 <= size <= 500:
        raise BadRequestError("Query parameter 'limit' must be an integer from 1 to 500")
    return size


def encode_cursor(event: Event) -> str:
    return base64.urlsafe_b64encode(f"{event.at.isoformat()}|{event.id}".encode()).decode().rstrip("=")


# Cursors only ever hold event times; anything outside these years is not one of ours.
CURSOR_YEARS = range(2000, 3000)


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    invalid = BadRequestError("Query parameter 'cursor' is invalid")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, event_id = raw.partition("|")
        when = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    if when.tzinfo is None or when.year not in CURSOR_YEARS or not event_id.isascii() or len(event_id) > 64:
        raise invalid
    return when.astimezone(timezone.utc), event_id


def pause() -> None:
    time.sleep(random.uniform(0.001, 0.02))


def busy_error() -> InvalidTransitionError:
    return InvalidTransitionError("The integration is being changed by another request: retry")


def quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.warning("best-effort step failed", exc_info=True)
