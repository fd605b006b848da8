"""Writing credentials and integrations: compare-and-set, retried on conflict, nothing half-written.

A credential row is written first, the integration that points at it second; a write that
loses its race deletes the row it wrote. Mixed into IntegrationService.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any, Callable

from .domain.errors import ConflictError, QueueError
from .domain.lifecycle import Status, check_action
from .domain.models import (
    Credential,
    CredentialRecord,
    Integration,
    Rotation,
    ValidationMessage,
)
from .registry import Provider
from .service_support import (
    CAS_ATTEMPTS,
    ORPHAN_AGE,
    QUEUE_FAILED,
    associated_data,
    busy_error,
    credential_ref,
    pause,
    quietly,
    referenced_ids,
)

if TYPE_CHECKING:
    from .service import Actor, SetupRequest

log = logging.getLogger("shared.service")


class CredentialWrites:
    def rewrap(self, batch_size: int = 100, legacy_binding: bool = False) -> dict[str, Any]:
        """Re-encrypt every stored credential under the primary key version (and, with
        `legacy_binding`, under the current binding); see shared/rewrap.py."""
        from .rewrap import rewrap

        return rewrap(self.store, self.cipher, batch_size, legacy_binding)

    def _write(self, org: str, provider: str, change: Callable[[Integration | None], Integration]) -> Integration:
        """Read, change, compare-and-set; retried on conflict. `change` may raise to abort."""
        for _ in range(CAS_ATTEMPTS):
            current = self.store.get_integration(org, provider)
            item = change(current)
            try:
                saved = (self.store.insert_integration(item) if current is None
                         else self.store.update_integration(item, current.revision))
            except ConflictError:
                pause()
                continue
            if current is None or current.status != saved.status:
                self._status_changed(saved, current.status if current else Status.NOT_CONFIGURED, saved.status,
                                     saved.status_message)
            return saved
        raise busy_error()

    def _store_new_credential(self, actor: Actor, provider: Provider, credential: Credential,
                              request: SetupRequest, config: dict[str, Any]) -> Integration:
        for _ in range(CAS_ATTEMPTS):
            current = self.store.get_integration(actor.org, provider.key)
            check_action("setup", current.status if current else Status.NOT_CONFIGURED)
            version = current.credential.version + 1 if current and current.credential else 1
            record = self._seal(actor.org, provider.key, credential, version)
            item = self._fresh(actor.org, provider, current, request.name).model_copy(update={
                "status": Status.PENDING, "status_code": None, "status_message": None, "config": config,
                "credential": credential_ref(record), "rotation": None, "last_validated_at": None})
            saved = self._commit_with_credential(record, item, current)
            if saved is None:
                continue
            replaced = {c.credential_id for c in (current.credential, current.rotation) if c} if current else set()
            self._destroy(actor.org, provider.key, replaced, keep=record.credential_id)
            return saved
        raise busy_error()

    def _stage_rotation(self, actor: Actor, provider: Provider, credential: Credential,
                        request: SetupRequest, config: dict[str, Any]) -> Integration:
        for _ in range(CAS_ATTEMPTS):
            current = self._require(actor.org, provider.key)
            check_action("rotate", current.status)
            record = self._seal(actor.org, provider.key, credential, current.credential.version + 1)
            rotation = Rotation(credential_id=record.credential_id, version=record.version, status="pending",
                                fingerprint=record.fingerprint, hint=record.hint, created_at=record.created_at)
            item = current.model_copy(update={"rotation": rotation, "name": request.name or current.name,
                                              "config": config, "updated_at": self.clock()})
            saved = self._commit_with_credential(record, item, current)
            if saved is None:
                continue
            if current.rotation:
                self._destroy(actor.org, provider.key, {current.rotation.credential_id}, keep=record.credential_id)
            return saved
        raise busy_error()

    def _seal(self, org: str, provider: str, credential: Credential, version: int) -> CredentialRecord:
        """Encrypt (bound to org, provider, version, credential id); EncryptionError means nothing was stored."""
        credential_id = uuid.uuid4().hex
        sealed = self.cipher.encrypt(credential.value.encode("utf-8"),
                                     associated_data(org, provider, version, credential_id))
        return CredentialRecord(
            org=org, provider=provider, credential_id=credential_id, version=version,
            ciphertext=sealed.ciphertext, key_version=sealed.key_version, fingerprint=credential.fingerprint(),
            hint=credential.hint(), created_at=self.clock())

    def _commit_with_credential(self, record: CredentialRecord, item: Integration,
                                current: Integration | None) -> Integration | None:
        """Credential row first, then the integration pointing at it. None: lost the race."""
        self.store.put_credential(record)
        try:
            saved = (self.store.insert_integration(item) if current is None
                     else self.store.update_integration(item, current.revision))
        except ConflictError:
            self.store.delete_credential(record.org, record.provider, record.credential_id)
            pause()
            return None
        except BaseException:
            quietly(self.store.delete_credential, record.org, record.provider, record.credential_id)
            raise
        self._status_changed(saved, current.status if current else Status.NOT_CONFIGURED, saved.status, None)
        return saved

    def _destroy(self, org: str, provider: str, credential_ids: set[str], keep: str) -> None:
        for credential_id in credential_ids - {keep}:
            self.store.delete_credential(org, provider, credential_id)
        # Orphans of a crashed write (old enough that no write in flight can own them).
        self.store.delete_credentials(org, provider, keep=frozenset({keep}) | referenced_ids(
            self.store.get_integration(org, provider)), created_before=self.clock() - ORPHAN_AGE)

    def _enqueue(self, item: Integration, credential_id: str, version: int) -> Integration:
        try:
            self.queue.publish(ValidationMessage(org=item.org, provider=item.provider, version=version,
                                                 credential_id=credential_id))
            return item
        except QueueError:
            log.warning("validation could not be queued")

        def change(current: Integration | None) -> Integration:
            current = self._still(current, item)
            if current.rotation and current.rotation.credential_id == credential_id:
                return current.model_copy(update={"rotation": current.rotation.model_copy(
                    update={"message": QUEUE_FAILED}), "updated_at": self.clock()})
            if current.credential and current.credential.credential_id == credential_id:
                return current.model_copy(update={"status_message": QUEUE_FAILED, "updated_at": self.clock()})
            return current

        return self._write(item.org, item.provider, change)
