"""Writing credentials and integrations: compare-and-set, retried on conflict, nothing half-written.

Every change is one unit of work handed to the store (`Store.commit`): the integration's new
state, the credential rows it stores and destroys, and the audit and status-change events
recording it, all or nothing. Mixed into IntegrationService.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any, Callable

from .domain.errors import ConflictError, NotConfiguredError, QueueError
from .domain.lifecycle import Status, check_action
from .domain.models import (
    Credential,
    CredentialRecord,
    Integration,
    Rotation,
    ValidationMessage,
)
from .ports import Write
from .registry import Provider
from .service_support import (
    CAS_ATTEMPTS,
    ORPHAN_AGE,
    QUEUE_FAILED,
    AuditSpec,
    Plan,
    associated_data,
    busy_error,
    credential_ref,
    fingerprint_of,
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

    def _write(self, org: str, provider: str, change: Callable[[Integration | None], Integration | Plan | None],
               audit: AuditSpec | None = None) -> Integration:
        """Read, change, commit as one unit of work (compare-and-set); retried on conflict.

        `change` returns the new state (or a Plan with credential rows; None: nothing to do)
        and may raise to abort. The audit event and any status-change event commit with it.
        """
        for _ in range(CAS_ATTEMPTS):
            current = self.store.get_integration(org, provider)
            planned = change(current)
            if planned is None:
                assert current is not None
                return current
            plan = planned if isinstance(planned, Plan) else Plan(planned)
            before = current.status if current else Status.NOT_CONFIGURED
            after = plan.item.status if plan.item else Status.NOT_CONFIGURED
            subject = plan.item or current
            assert subject is not None
            events = [self._event(subject, *audit(subject))] if audit else []
            if before != after:
                events.append(self._status_event(subject, before, after, plan.item.status_message if plan.item else None))
            write = Write(org, provider, current.revision if current else None, plan.item, plan.put,
                          plan.destroy, tuple(events))
            try:
                saved = self.store.commit(write)
            except ConflictError:
                pause()
                continue
            if before != after:
                self._publish_status(subject, before, after, plan.item.status_message if plan.item else None)
            return saved if saved is not None else subject
        raise busy_error()

    def _store_new_credential(self, actor: Actor, provider: Provider, credential: Credential,
                              request: SetupRequest, config: dict[str, Any]) -> Integration:
        def change(current: Integration | None) -> Plan:
            check_action("setup", current.status if current else Status.NOT_CONFIGURED)
            version = current.credential.version + 1 if current and current.credential else 1
            record = self._seal(actor.org, provider.key, credential, version)
            item = self._fresh(actor.org, provider, current, request.name).model_copy(update={
                "status": Status.PENDING, "status_code": None, "status_message": None, "config": config,
                "credential": credential_ref(record), "rotation": None, "last_validated_at": None})
            # The credentials this integration held go with the change: only those it read.
            return Plan(item, put=(record,), destroy=referenced_ids(current))

        item = self._write(actor.org, provider.key, change,
                           audit=lambda i: ("setup", actor.key_id, "ok", fingerprint_of(i),
                                            {"version": i.credential.version}))
        self._sweep_orphans(actor.org, provider.key, item)
        return item

    def _stage_rotation(self, actor: Actor, provider: Provider, credential: Credential,
                        request: SetupRequest, config: dict[str, Any]) -> Integration:
        def change(current: Integration | None) -> Plan:
            if current is None:
                raise NotConfiguredError()
            check_action("rotate", current.status)
            record = self._seal(actor.org, provider.key, credential, current.credential.version + 1)
            rotation = Rotation(credential_id=record.credential_id, version=record.version, status="pending",
                                fingerprint=record.fingerprint, hint=record.hint, created_at=record.created_at)
            item = current.model_copy(update={"rotation": rotation, "name": request.name or current.name,
                                              "config": config, "updated_at": self.clock()})
            replaced = frozenset({current.rotation.credential_id}) if current.rotation else frozenset()
            return Plan(item, put=(record,), destroy=replaced)

        return self._write(actor.org, provider.key, change,
                           audit=lambda i: ("rotate", actor.key_id, "ok", i.rotation.fingerprint,
                                            {"version": i.rotation.version}))

    def _seal(self, org: str, provider: str, credential: Credential, version: int) -> CredentialRecord:
        """Encrypt (bound to org, provider, version, credential id); EncryptionError means nothing was stored."""
        credential_id = uuid.uuid4().hex
        sealed = self.cipher.encrypt(credential.value.encode("utf-8"),
                                     associated_data(org, provider, version, credential_id))
        return CredentialRecord(
            org=org, provider=provider, credential_id=credential_id, version=version,
            ciphertext=sealed.ciphertext, key_version=sealed.key_version, fingerprint=credential.fingerprint(),
            hint=credential.hint(), created_at=self.clock())

    def _sweep_orphans(self, org: str, provider: str, item: Integration) -> None:
        """Ciphertexts of a write that died half-way (a store without multi-table transactions),
        old enough that no write in flight can own them."""
        quietly(self.store.delete_credentials, org, provider, referenced_ids(item), self.clock() - ORPHAN_AGE)

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
