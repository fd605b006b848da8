"""The validation flow: what happens between "validate this credential" and a verdict on record.

Shared by the validate endpoint, `?wait=true`, the validator function (one message) and the
daily revalidation. Mixed into IntegrationService; it relies on the service's store, cipher,
registry, validators and its small helpers (_write, _moved, _audit, ...).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

from .domain.errors import IntegrationsError, NotConfiguredError, ProviderUnavailableError
from .domain.lifecycle import Status
from .domain.models import Credential, CredentialRef, Integration, ValidationMessage
from .logs import bind
from .ports import ValidationResult
from .service_support import (
    ORPHAN_AGE,
    REVALIDATION_CONCURRENCY,
    SYSTEM,
    AuditSpec,
    Plan,
    RetryLater,
    StaleValidation,
    associated_data,
    quietly,
    result_message,
    stuck_after,
    target_fingerprint,
)

log = logging.getLogger("shared.service")


class ValidationFlow:
    def handle_message(self, message: ValidationMessage, attempt: int = 1) -> str:
        """Handle one queue delivery; idempotent. Returns what was done (for logs and tests).

        Raises RetryLater on a transient provider failure so Pub/Sub redelivers, until the
        delivery attempt reaches settings.validator_max_deliveries: then the outcome is final.
        """
        if message.kind == "revalidate":
            return self.revalidate_all()
        if not (message.org and message.provider and message.credential_id):
            return "ignored: incomplete message"
        bind(org=message.org, provider=message.provider)
        item = self.store.get_integration(message.org, message.provider)
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
        final = attempt >= self.settings.validator_max_deliveries
        item, result = self._check(item, self._decrypt(item, target), target, SYSTEM, inline=final)
        if result is None:
            return "ignored: credential changed during validation"
        return f"validated {target}: {result.outcome}"

    def revalidate_all(self) -> str:
        """The daily job: check every active integration again, with bounded concurrency.

        A key the provider now rejects becomes `expired`. A transient failure (after the
        validator's own retries) leaves the status alone, records the message, and counts
        toward one more pass at the end of this run; what still fails waits for the next run.
        """
        from concurrent.futures import ThreadPoolExecutor

        def check(item: Integration) -> str:
            try:
                bind(org=item.org, provider=item.provider)
                current = self.store.get_integration(item.org, item.provider)
                if current is None or current.status is not Status.ACTIVE:
                    return "skipped"
                after, result = self._check(current, self._decrypt(current, "current"), "current", SYSTEM,
                                            inline=True, action="revalidate")
                return "transient" if result is not None and result.transient else after.status.value
            except Exception:  # one bad integration never stops the run
                log.exception("revalidation failed")
                return "failed"

        def run(items: list[Integration]) -> list[str]:
            with ThreadPoolExecutor(max_workers=REVALIDATION_CONCURRENCY) as pool:
                return list(pool.map(check, items))

        quietly(self.recover)
        items = [i for i in self.store.list_integrations_by_status(Status.ACTIVE.value) if self._has_key(i)]
        results = run(items)
        retry = [item for item, outcome in zip(items, results) if outcome == "transient"]
        if retry:
            time.sleep(min(self.settings.provider_backoff_seconds * 4, 10))
            for item, outcome in zip(retry, run(retry)):
                results[items.index(item)] = outcome
        summary = {s: results.count(s) for s in sorted(set(results))}
        log.info("revalidation done", extra={"fields": {"checked": len(items), "results": summary}})
        return f"revalidated {len(items)}: {json.dumps(summary, sort_keys=True)}"

    def recover(self, orphan_age: timedelta = ORPHAN_AGE) -> dict[str, int]:
        """After a crash: queue again every validation stuck longer than one can take (its
        message died with the process), and destroy ciphertexts no integration references.

        Run by `serve` at start (the local queue lives in memory) and by the daily revalidation.
        A validation re-queued while it was in fact still running is harmless: it is idempotent.
        """
        now = self.clock()
        requeued = 0
        for item in self.store.list_unsettled_integrations(now - stuck_after(self.settings)):
            bind(org=item.org, provider=item.provider)
            if item.status in (Status.PENDING, Status.VALIDATING) and item.credential:
                self._enqueue(item, item.credential.credential_id, item.credential.version)
                requeued += 1
            if item.rotation and item.rotation.status in ("pending", "validating"):
                self._enqueue(item, item.rotation.credential_id, item.rotation.version)
                requeued += 1
        orphans = self.store.delete_orphan_credentials(now - orphan_age)
        summary = {"requeued": requeued, "orphans_destroyed": orphans}
        log.info("recovery done", extra={"fields": summary})
        return summary

    def _has_key(self, item: Integration) -> bool:
        try:
            return not self.registry.get(item.provider).manual
        except IntegrationsError:  # a provider removed from the registry: nothing to call
            return False

    def _validate_inline(self, item: Integration, credential: Credential, target: str, actor: str) -> Integration:
        """Validate while a request waits. A provider that stays down (or rate limits us) after
        the bounded retries is one answer on every path: the integration records it, and the
        request answers 503 provider_unavailable."""
        item, result = self._check(item, credential, target, actor, inline=True)
        if result is not None and result.transient:  # the detail is on record, the answer is the catalogue's
            raise ProviderUnavailableError()
        return item

    def _decrypt(self, item: Integration, target: str) -> Credential:
        ref = item.rotation if target == "rotation" else item.credential
        record = self.store.get_credential(item.org, item.provider, ref.credential_id)
        if record is None:
            raise NotConfiguredError("Integration not configured: its stored credential is missing, set it up again")
        plaintext = self.cipher.decrypt(record.ciphertext, associated_data(item.org, item.provider, record.version,
                                                                           record.credential_id))
        kind = "service_account" if self.registry.get(item.provider).credential == "service_account" else "api_key"
        return Credential(secret=plaintext.decode("utf-8"), kind=kind)

    def _check(self, item: Integration, credential: Credential, target: str, actor: str, *,
               inline: bool, action: str = "validate") -> tuple[Integration, ValidationResult | None]:
        """Run the provider check on `credential` and record the verdict.

        `inline` (a request waiting, or the last delivery) settles transient failures as the
        final word; otherwise they raise RetryLater after recording that a retry is coming.
        """
        credential_id = (item.rotation if target == "rotation" else item.credential).credential_id
        try:
            return self._check_owned(item, credential, credential_id, target, actor, inline, action)
        except StaleValidation:
            # Replaced, deleted or disabled meanwhile: this verdict is about nothing in force.
            log.info("validation result dropped: the credential changed meanwhile")
            return self.store.get_integration(item.org, item.provider) or item, None

    def _check_owned(self, item: Integration, credential: Credential, credential_id: str, target: str,
                     actor: str, inline: bool, action: str) -> tuple[Integration, ValidationResult]:
        if target == "rotation" or item.status in (Status.PENDING, Status.ERROR):
            item = self._mark(item, credential_id, target, "validating")
        result = self._ask_provider(item, credential)
        log.info("provider answered", extra={"fields": {"outcome": result.outcome, "target": target}})
        fingerprint = target_fingerprint(item, target)
        if result.transient and not inline:
            # Redelivery will try again: stay `validating` (no status flapping, no status event).
            self._mark(item, credential_id, target, "validating", message=f"{result_message(result)}: retrying",
                       code=result.outcome, audit=lambda i: (action, actor, result.outcome, fingerprint, {"retrying": True}))
            raise RetryLater(result.outcome)
        details = {"target": target, **({"detail": result.detail} if result.detail else {})}
        saved = self._record_result(item, credential_id, target, result, audit=lambda i: (
            action, actor, "ok" if result.outcome == "valid" else result.outcome, fingerprint, details))
        return saved, result

    def _ask_provider(self, item: Integration, credential: Credential) -> ValidationResult:
        """The provider's verdict. Whatever a provider sends ends in one: an answer a validator
        could not read is `provider_unavailable`, never an error that leaves `validating` behind."""
        validator = self._validator(self.registry.get(item.provider))
        try:
            return validator.validate(credential, item.config)
        except Exception as exc:  # noqa: BLE001 - the type is logged, never the text (it may hold data)
            log.warning("validator failed on a provider answer", extra={"fields": {"error_type": type(exc).__name__}})
            return ValidationResult("provider_unavailable", "the provider's answer could not be read")

    def _mark(self, item: Integration, credential_id: str, target: str, state: str, message: str | None = None,
              code: str | None = None, audit: AuditSpec | None = None) -> Integration:
        """Move the targeted credential to validating (with a message while a retry is due)."""

        def change(current: Integration | None) -> Integration:
            current = self._owned(current, credential_id, target)
            if target == "rotation":
                return current.model_copy(update={"rotation": current.rotation.model_copy(
                    update={"status": state, "message": message}), "updated_at": self.clock()})
            return self._moved(current, Status(state), code, message)

        return self._write(item.org, item.provider, change, audit=audit)

    def _record_result(self, item: Integration, credential_id: str, target: str,
                       result: ValidationResult, audit: AuditSpec) -> Integration:
        now = self.clock()
        message = None if result.outcome == "valid" else result_message(result)
        code = None if result.outcome == "valid" else result.outcome

        def change(current: Integration | None) -> Integration | Plan:
            current = self._owned(current, credential_id, target)
            if target == "rotation":
                if result.outcome == "valid":
                    rot = current.rotation
                    ref = CredentialRef(credential_id=rot.credential_id, version=rot.version,
                                        fingerprint=rot.fingerprint, hint=rot.hint, created_at=rot.created_at)
                    promoted = self._moved(current, Status.ACTIVE, None, None).model_copy(update={
                        "credential": ref, "rotation": None, "last_validated_at": now})
                    # The old credential is destroyed with the promotion, in the same unit of work.
                    old = frozenset({current.credential.credential_id}) if current.credential else frozenset()
                    return Plan(promoted, destroy=old)
                return current.model_copy(update={"rotation": current.rotation.model_copy(
                    update={"status": "failed", "message": message}), "updated_at": now})
            was_active = current.status is Status.ACTIVE
            if result.outcome == "valid":
                status = Status.ACTIVE
            elif result.transient:
                status = Status.ACTIVE if was_active else Status.ERROR
            elif result.outcome == "invalid_credentials" and current.status in (Status.ACTIVE, Status.EXPIRED):
                status = Status.EXPIRED  # it used to work: the provider revoked it
            else:
                status = Status.ERROR
            return self._moved(current, status, code, message).model_copy(update={"last_validated_at": now})

        return self._write(item.org, item.provider, change, audit=audit)

    def _owned(self, current: Integration | None, credential_id: str, target: str) -> Integration:
        """The integration, if `credential_id` is still the one targeted; else the work is stale."""
        ref = None if current is None else (current.rotation if target == "rotation" else current.credential)
        if current is None or ref is None or ref.credential_id != credential_id or current.status is Status.DISABLED:
            raise StaleValidation()
        return current
