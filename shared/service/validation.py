"""From "validate this credential" to a verdict on record: the validator function's message,
a request that waits (validate, `?wait=true`), and the daily revalidation all come here.

A verdict moves the integration (or its staged rotation) through the lifecycle in one unit of
work with its audit event. A provider that stays down is nothing known about the key: the
request answers 503; the validator function asks for redelivery (the integration stays
`validating`) until the last delivery settles it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from ..domain.errors import IntegrationsError, ProviderUnavailableError, QueueError, RetryLater, StaleValidation
from ..domain.lifecycle import Status
from ..domain.models import Credential, Integration, Org, ValidationMessage
from ..logs import bind
from ..ports import Snapshot, Store, ValidationQueue, ValidationResult
from .audit import SYSTEM
from .verdicts import ordered, owned, promote, result_message, verdict_message, verdict_status
from .writes import AuditSpec, Plan, Writes

if TYPE_CHECKING:
    from ..ports import AttemptWindow
    from ..settings import Settings
    from ..registry import Registry
    from .credentials import Credentials
    from .external_ids import ExternalIds
    from datetime import date, datetime

log = logging.getLogger(__name__)

QUEUE_FAILED = "Validation could not be queued: call validate to retry"


class Validation:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        credentials: Credentials,
        writes: Writes,
        queue: ValidationQueue,
        settings: Settings,
        clock: Callable[[], datetime],
        external_ids: ExternalIds | None = None,
    ):
        self._store = store
        self._registry = registry
        self._credentials = credentials
        self._writes = writes
        self._queue = queue
        self._settings = settings
        self._clock = clock
        self._external_ids = external_ids

    # -- the validator function's message ------------------------------------------------------

    def handle(self, message: ValidationMessage, attempt: int = 1) -> str:
        """One delivery of a validation message; idempotent. Returns what was done.

        Raises RetryLater on a transient provider failure so Pub/Sub redelivers, until the
        delivery attempt reaches VALIDATOR_MAX_DELIVERIES: then the outcome is final.
        """
        if not (message.org and message.provider and message.credential_id):
            return "ignored: incomplete message"
        bind(org=message.org, provider=message.provider)
        # One query: the integration, its ciphertexts and, for a check bound to the org, the org's row.
        seen = self._store.read(message.org, message.provider, credentials=True, with_org=self.bound(message.provider))
        item = seen.integration
        if item is None:
            return "ignored: integration gone"
        rotation = item.rotation
        if rotation and rotation.credential_id == message.credential_id:
            if rotation.status == "failed":
                return "ignored: rotation already settled"
            target = "rotation"
        elif item.credential and item.credential.credential_id == message.credential_id:
            if item.status not in (Status.PENDING, Status.VALIDATING):
                return "ignored: already settled"
            target = "current"
        else:
            return "ignored: superseded credential version"
        final = attempt >= self._settings.validator_max_deliveries
        credential = self._credentials.open(item, target, seen)
        item, result = self.check(item, credential, target, SYSTEM, inline=final, org_row=seen.org)
        if result is None:
            return "ignored: credential changed during validation"
        return f"validated {target}: {result.outcome}"

    def enqueue(self, item: Integration, credential_id: str, version: int) -> Integration:
        """Queue a validation; when the queue is down, say so on the integration (validate retries)."""
        try:
            self._queue.publish(
                ValidationMessage(org=item.org, provider=item.provider, version=version, credential_id=credential_id)
            )
            return item
        except QueueError:
            log.warning("validation could not be queued")

        def change(current: Integration | None) -> Integration | None:
            if current is None:
                return None
            if current.rotation and current.rotation.credential_id == credential_id:
                return current.model_copy(
                    update={
                        "rotation": current.rotation.model_copy(update={"message": QUEUE_FAILED}),
                        "updated_at": self._clock(),
                    }
                )
            if current.credential and current.credential.credential_id == credential_id:
                return current.model_copy(update={"status_message": QUEUE_FAILED, "updated_at": self._clock()})
            return current

        return self._writes.write(item.org, item.provider, change)

    # -- a request that waits ------------------------------------------------------------------

    def inline(self, item: Integration, credential: Credential, target: str, actor: str, **check: Any) -> Integration:
        """Validate while a request waits. A provider that stays down (or rate limits us) after
        the bounded retries is one answer on every path: the integration records it, and the
        request answers 503 provider_unavailable. `check`: more of check's options (attempt)."""
        item, result = self.check(item, credential, target, actor, inline=True, **check)
        if result is not None and result.transient:  # the detail is on record, the answer is the catalogue's
            raise ProviderUnavailableError()
        return item

    # -- the check itself ----------------------------------------------------------------------

    def check(
        self,
        item: Integration,
        credential: Credential,
        target: str,
        actor: str,
        *,
        inline: bool,
        action: str = "validate",
        attempt: AttemptWindow | None = None,
        org_row: Org | None = None,
    ) -> tuple[Integration, ValidationResult | None]:
        """Run the provider check on `credential` and record the verdict; (integration, verdict),
        the verdict None when the credential changed meanwhile (nothing recorded).

        `item` is as just read (the first compare-and-set tries it). `inline` (a request waiting,
        or the last delivery) settles transient failures as the final word; otherwise they raise
        RetryLater after recording that a retry is coming. `attempt` goes with the `marks` change.
        `org_row`: the org as the use case read it, for a check bound to the org (else read here).
        """
        ref = item.target(target)
        assert ref is not None
        try:
            owned_by = (item, credential, ref.credential_id, target, actor)
            return self._check_owned(*owned_by, inline, action, attempt, org_row)
        except StaleValidation:
            log.info("validation result dropped: the credential changed meanwhile")
            return self._store.get_integration(item.org, item.provider) or item, None

    def bound(self, provider: str) -> bool:
        """Whether checks of `provider` need the org's row: read it with the integration."""
        try:
            return self._registry.get(provider).bound_to_org
        except IntegrationsError:  # an unknown provider is refused further on
            return False

    @staticmethod
    def marks(item: Integration, target: str) -> bool:
        """Whether a check first moves the credential to `validating` (a change before the call)."""
        return target == "rotation" or item.status in (Status.PENDING, Status.ERROR)

    def _check_owned(
        self,
        item: Integration,
        credential: Credential,
        credential_id: str,
        target: str,
        actor: str,
        inline: bool,
        action: str,
        attempt: AttemptWindow | None,
        org_row: Org | None,
    ) -> tuple[Integration, ValidationResult]:
        if self.marks(item, target):
            item = self._mark(item, credential_id, target, "validating", attempt=attempt)
        ref = item.target(target)
        result = self._ask_provider(item, credential, ref.expires_at if ref else None, org_row)
        log.info("provider answered", extra={"fields": {"outcome": result.outcome, "target": target}})
        fingerprint = ref.fingerprint if ref else None
        if result.transient and not inline:
            # Redelivery will try again: stay `validating` (no status flapping, no status event).
            self._mark(
                item,
                credential_id,
                target,
                "validating",
                message=f"{result_message(result)}: retrying",
                code=result.outcome,
                audit=lambda i: (action, actor, result.outcome, fingerprint, {"retrying": True}),
            )
            raise RetryLater(result.outcome)
        details: dict[str, Any] = {"target": target}
        details.update({k: v for k, v in (("detail", result.detail), ("remark", result.remark)) if v})
        if result.outcome == "valid":
            details["capabilities"] = list(result.capabilities)
        saved = self._record(
            item,
            credential_id,
            target,
            result,
            audit=lambda i: (
                action,
                actor,
                "ok" if result.outcome == "valid" else result.outcome,
                fingerprint,
                details,
            ),
        )
        return saved, result

    def _ask_provider(
        self, item: Integration, credential: Credential, expires_at: date | None, org_row: Org | None
    ) -> ValidationResult:
        """The provider's verdict. Whatever a provider sends ends in one: an answer a validator
        could not read is `provider_unavailable`, never an error that leaves `validating` behind.
        A credential whose expiry date has come is expired, without asking."""
        if expires_at is not None and self._clock().date() >= expires_at:
            return ValidationResult("credential_expired", f"its expiry date, {expires_at.isoformat()}, has come")
        provider = self._registry.get(item.provider)
        validator = self._credentials.validator(provider)
        # A check bound to the org (AWS: its external ID) is told whose credential it is.
        owner = self._external_ids.owner(item.org, org_row) if provider.bound_to_org else None
        try:
            return (
                validator.validate(credential, item.config, owner)
                if owner
                else validator.validate(credential, item.config)
            )
        except Exception as exc:  # noqa: BLE001 - the type is logged, never the text (it may hold data)
            log.warning("validator failed on a provider answer", extra={"fields": {"error_type": type(exc).__name__}})
            return ValidationResult("provider_unavailable", "the provider's answer could not be read")

    def _mark(
        self,
        item: Integration,
        credential_id: str,
        target: str,
        state: str,
        message: str | None = None,
        code: str | None = None,
        audit: AuditSpec | None = None,
        attempt: AttemptWindow | None = None,
    ) -> Integration:
        """Move the targeted credential to validating (with a message while a retry is due)."""

        def change(current: Integration | None) -> Integration:
            current = owned(current, credential_id, target)
            if target == "rotation":
                return current.model_copy(
                    update={
                        "rotation": current.rotation.model_copy(update={"status": state, "message": message}),
                        "updated_at": self._clock(),
                    }
                )
            return current.moved(Status(state), code, message, self._clock())

        return self._writes.write(item.org, item.provider, change, audit=audit, first=Snapshot(item), attempt=attempt)

    def _record(
        self, item: Integration, credential_id: str, target: str, result: ValidationResult, audit: AuditSpec
    ) -> Integration:
        now = self._clock()
        code, message = verdict_message(result)

        def change(current: Integration | None) -> Integration | Plan:
            current = owned(current, credential_id, target)
            if target == "rotation":
                if result.outcome == "valid":
                    # The old credential is destroyed in the same unit of work.
                    old = frozenset({current.credential.credential_id}) if current.credential else frozenset()
                    return Plan(promote(current, result, now), destroy=old)
                return current.model_copy(
                    update={
                        "rotation": current.rotation.model_copy(update={"status": "failed", "message": message}),
                        "updated_at": now,
                    }
                )
            moved = current.moved(verdict_status(current.status, result), code, message, now)
            update: dict[str, Any] = {"last_validated_at": now}
            if result.outcome == "valid":  # otherwise those of its last successful validation stay
                update["capabilities"] = ordered(result.capabilities)
            return moved.model_copy(update=update)

        return self._writes.write(item.org, item.provider, change, audit=audit, first=Snapshot(item))
