"""The interfaces between the use cases and the outside world.

Every outside system sits behind one of these, with at least two adapters, and one
contract suite under tests/contract/ proves the adapters interchangeable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Protocol

from .domain.lifecycle import Status
from .domain.errors import CipherFailure  # noqa: F401 - the ports' failure cause, re-exported
from .domain.errors import RateLimitedError
from .domain.models import Credential, CredentialRecord, Event, Integration, Org, ValidationMessage
from .domain.verdict import TRANSIENT_OUTCOMES, CredentialOwner, Outcome, ValidationResult  # noqa: F401 - re-exported


@dataclass(frozen=True)
class AttemptWindow:
    """A validation attempt counted with a unit of work: at most `limit` attempts per org and
    provider within the `seconds` before `now` (the rate limit, VALIDATION_RATE_LIMIT)."""

    now: datetime
    seconds: int
    limit: int


@dataclass(frozen=True)
class Write:
    """One unit of work on one integration: the use cases hand the store all of it at once.

    `integration` is the new state (None deletes it), compare-and-set on `expected_revision`
    (None: it must not exist yet). With it go the credential rows to store and to destroy, the
    audit events recording the change and the validation attempt it counts (`attempt`), if any."""

    org: str
    provider: str
    expected_revision: int | None
    integration: Integration | None
    put_credentials: tuple[CredentialRecord, ...] = ()
    delete_credentials: frozenset[str] = frozenset()
    events: tuple[Event, ...] = ()
    attempt: AttemptWindow | None = None


@dataclass(frozen=True)
class Snapshot:
    """An integration as one read found it (`Store.read`), with what a use case decides on:
    when asked, every ciphertext stored for its org and provider, and the validation attempts
    of the rate limit's window."""

    integration: Integration | None
    credentials: tuple[CredentialRecord, ...] = ()
    attempts: int = 0
    oldest_attempt: datetime | None = None
    org: Org | None = None

    def credential(self, credential_id: str) -> CredentialRecord | None:
        return next((c for c in self.credentials if c.credential_id == credential_id), None)


@dataclass(frozen=True)
class Attempt:
    """The rate limit's answer: allowed (and recorded), or refused until `retry_after` seconds pass."""

    allowed: bool
    retry_after: int = 0

    @classmethod
    def refused(cls, oldest: datetime | None, now: datetime, window_seconds: int) -> "Attempt":
        """Refused until the oldest attempt in the window leaves it (whole seconds, at least 1)."""
        if oldest is None:
            return cls(False, window_seconds)
        remaining = (oldest + timedelta(seconds=window_seconds) - now).total_seconds()
        return cls(False, max(1, min(window_seconds, math.ceil(remaining))))

    def error(self) -> RateLimitedError:
        """The 429 a refused attempt answers, with the seconds to wait."""
        return RateLimitedError(headers={"Retry-After": str(self.retry_after)})


class Store(Protocol):
    """Durable records. Writes are compare-and-set on `Integration.revision`.

    Guarantees every adapter keeps (tests/contract/test_store_contract.py):
    - `commit` stores a whole `Write` or raises: ConflictError (the integration changed, or
      appeared, since it was read), RateLimitedError (its `attempt` found the window full;
      Retry-After as `try_record_attempt` says it) and StoreError leave nothing of it behind.
      A saved integration comes back at revision 1 (insert) or expected + 1. Its events may
      reach `list_events` a moment after it returns (BigQuery streams them).
    - `read` returns the integration with what was asked, as of one moment.
    - `insert_integration` raises ConflictError when the row exists; returns it at revision 1.
    - `update_integration` / `delete_integration` raise ConflictError unless the stored
      revision equals `expected_revision`; a successful update returns revision + 1.
    - `try_record_attempt` is atomic across processes: of N concurrent callers at most
      `limit` within `window_seconds` are allowed; a refusal says in how many seconds the
      oldest attempt leaves the window.
    - Events are append-only and listed newest first.
    """

    def commit(self, write: Write) -> Integration | None:
        """Store the unit of work; return the saved integration (None after a delete)."""
        ...

    def create_org(self, org: Org) -> None: ...
    def get_org(self, slug: str) -> Org | None: ...
    def find_org_by_key_hash(self, key_hash: str) -> Org | None: ...
    def replace_org_key(self, slug: str, api_key_id: str, api_key_hash: str, issued_at: datetime) -> bool:
        """Replace an org's API key (rotate, or revoke with a hash no key has): the old key is
        refused from then on. False when the org does not exist."""
        ...

    def set_aws_external_id(self, slug: str, external_id: str) -> str | None:
        """Give the org `external_id` unless it already has one (it never changes once set);
        return the org's external ID, or None when the org does not exist."""
        ...

    def get_integration(self, org: str, provider: str) -> Integration | None: ...
    def read(
        self,
        org: str,
        provider: str,
        *,
        credentials: bool = False,
        attempts_since: datetime | None = None,
        with_org: bool = False,
    ) -> Snapshot:
        """The integration; with `credentials`, every ciphertext of org/provider; with
        `attempts_since`, the number of validation attempts made after it and the oldest; with
        `with_org`, the org's row (None when there is no such org)."""
        ...

    def list_integrations(self, org: str) -> list[Integration]: ...
    def list_integrations_by_status(self, status: str) -> list[Integration]: ...
    def list_unsettled_integrations(self, updated_before: datetime) -> list[Integration]:
        """Integrations (never disabled ones) whose credential or staged rotation is still
        pending or validating, last updated before `updated_before`: validations lost in a crash."""
        ...

    def insert_integration(self, item: Integration) -> Integration: ...
    def update_integration(self, item: Integration, expected_revision: int) -> Integration: ...
    def delete_integration(self, org: str, provider: str, expected_revision: int) -> None: ...

    def put_credential(self, record: CredentialRecord) -> None: ...
    def get_credential(self, org: str, provider: str, credential_id: str) -> CredentialRecord | None: ...
    def delete_credential(self, org: str, provider: str, credential_id: str) -> bool:
        """Destroy one ciphertext; True when a row was deleted."""
        ...

    def delete_credentials(
        self, org: str, provider: str, keep: frozenset[str] = frozenset(), created_before: datetime | None = None
    ) -> int:
        """Destroy every ciphertext of org/provider whose id is not in `keep` (and, when given,
        created before `created_before`: orphans of a crashed write, never a concurrent one's); return how many."""
        ...

    def list_credentials(self, after: tuple[str, str, str] | None, limit: int) -> list[CredentialRecord]:
        """Every stored credential, ordered by (org, provider, credential_id), after `after`."""
        ...

    def replace_ciphertext(self, record: CredentialRecord, old_ciphertext: bytes) -> bool:
        """Swap a ciphertext (rewrap) only if it is still `old_ciphertext`; True when swapped."""
        ...

    def delete_orphan_credentials(self, created_before: datetime) -> int:
        """Destroy every ciphertext no integration references (as its credential or its staged
        rotation) that was created before `created_before`; return how many."""
        ...

    def try_record_attempt(
        self, org: str, provider: str, now: datetime, window_seconds: int, limit: int
    ) -> Attempt: ...

    def append_event(self, event: Event) -> None: ...
    def list_events(
        self, org: str, provider: str, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[Event]: ...

    def init_store(self) -> None:
        """Create what the store needs (SQLite: the file and tables; BigQuery: the dataset and
        tables). Idempotent: existing rows are kept."""
        ...

    def close(self) -> None:
        """Release the connections held (SQLite: the calling thread's). Idempotent; the store
        stays usable, a later call connects again."""
        ...


@dataclass(frozen=True)
class Encrypted:
    ciphertext: bytes
    key_version: str  # which key version sealed it (local "local/<keyring id>/v3", or a KMS cryptoKeyVersion name)


class Cipher(Protocol):
    """Authenticated encryption bound to associated data.

    `decrypt(encrypt(p, ad).ciphertext, ad) == p`; with any other `ad`, or any altered
    byte, decrypt raises DecryptionError. Failures to encrypt raise EncryptionError.
    Either carries a `CipherFailure` as its cause saying why.
    """

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> Encrypted: ...
    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes: ...
    def primary_key_version(self) -> str: ...


class ValidationQueue(Protocol):
    """Hands a validation message to the validator function, at least once. Raises QueueError."""

    def publish(self, message: ValidationMessage) -> None:
        """Hand over one message; QueueError when it could not be (or the queue is closed)."""
        ...

    def ensure_topic(self) -> None:
        """Create the topic unless it exists (the emulator; Terraform creates it in production).
        Idempotent; a no-op where there is no topic (the local queue)."""
        ...

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every published message has left this process (delivered, or given up);
        False when `timeout` passed first. At once True where publish already waits (Pub/Sub)."""
        ...

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting messages, finish what is pending (up to `timeout`), release threads and
        clients. Idempotent; a publish afterwards raises QueueError."""
        ...


@dataclass(frozen=True)
class StatusEvent:
    """An integration moved from one status to another: what notifiers and the frontend receive.

    It names the integration and never holds a secret; `message` is the catalogue's.
    """

    org: str
    provider: str
    from_status: Status
    to_status: Status
    message: str | None
    at: datetime

    def payload(self) -> dict[str, Any]:
        """The published form, the same on every adapter."""
        return {
            "org": self.org,
            "provider": self.provider,
            "from": Status(self.from_status).value,
            "to": Status(self.to_status).value,
            "message": self.message,
            "at": self.at.isoformat(),
        }


def status_event_payload(event: StatusEvent | Mapping[str, Any]) -> dict[str, Any]:
    """What an adapter publishes: a StatusEvent's payload, or a mapping already in that form."""
    return event.payload() if isinstance(event, StatusEvent) else dict(event)


class StatusEvents(Protocol):
    """Publishes status changes for subscribers (tests/contract/test_status_events_contract.py).

    The payload is `StatusEvent.payload()` as JSON; every adapter delivers it unchanged.
    Callers publish after the commit, best effort: a failure never undoes the change.
    """

    def publish(self, event: StatusEvent | Mapping[str, Any]) -> None:
        """Publish one event (or a mapping already in payload form); QueueError when it could not
        be published or the publisher is closed."""
        ...

    def ensure_topic(self) -> None:
        """Create the topic unless it exists (the emulator; Terraform in production). Idempotent;
        a no-op where there is no topic (the local file)."""
        ...

    def close(self) -> None:
        """Flush and release the publisher. Idempotent; a publish afterwards raises QueueError."""
        ...


class Validator(Protocol):
    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        """Raise InvalidFormatError (nothing stored) when the credential cannot be right.
        Cheap (no key is loaded): callers run it before the lifecycle and rate-limit checks."""
        ...

    def check_key(self, credential: Credential, config: dict[str, Any]) -> None:
        """The expensive rest of the format check (GCP: load and check the private key, up to
        half a second of CPU); raise InvalidFormatError when it fails. Call it after
        `check_format` and after the cheap lifecycle and rate-limit checks. What it loads is
        kept on `credential`, so `validate` on the same object does not load it again.
        A no-op for API keys."""
        ...

    def validate(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        """Ask the provider. Never raises for a provider's answer; maps it to an outcome."""
        ...
