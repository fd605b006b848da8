"""The use cases: setup, validate, list, get, delete, rotate, disable, enable, edit, events,
handle a validation message, revalidate, decrypt for a pipeline.

Entry points only parse and render; everything that decides lives here. Writes to an
integration are compare-and-set on its revision and retried on conflict, so concurrent
requests (threads, processes, function instances) never leave a half-written record:
a credential row is written first, the integration that points at it second, and a
write that loses its race deletes the row it wrote.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from .domain.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    IntegrationsError,
    InvalidFormatError,
    InvalidTransitionError,
    NotConfiguredError,
    ProviderUnavailableError,
    QueueError,
    RateLimitedError,
    UnauthorizedError,
    catalogue_message,
)
from .domain.lifecycle import Status, check_action, check_transition
from .domain.models import (
    Credential,
    CredentialRecord,
    CredentialRef,
    Event,
    Integration,
    Org,
    Rotation,
    ValidationMessage,
    integration_view,
    not_configured_view,
    utcnow,
)
from .logs import bind
from .ports import Cipher, Store, ValidationQueue, ValidationResult, Validator
from .registry import CATEGORIES, Provider, Registry
from .settings import Settings

log = logging.getLogger(__name__)

ORG_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
CAS_ATTEMPTS = 25
ORPHAN_AGE = timedelta(minutes=15)
REVALIDATION_CONCURRENCY = 4
QUEUE_FAILED = "Validation could not be queued: call validate to retry"
SYSTEM = "system"


class RetryLater(Exception):
    """A transient failure in the validator function: raise so Pub/Sub redelivers."""


def check_org_slug(org: str) -> str:
    if not (3 <= len(org) <= 50) or not set(org) <= ORG_SLUG_CHARS:
        raise BadRequestError("Organization slug must be 3 to 50 characters of a-z, 0-9 and _")
    return org


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def associated_data(org: str, provider: str, version: int) -> bytes:
    """What a ciphertext is bound to: a blob copied to another row does not decrypt."""
    return f"integrations/v1|{org}|{provider}|{version}".encode()


@dataclass(frozen=True)
class Actor:
    org: str
    key_id: str


@dataclass(frozen=True)
class SetupRequest:
    credential: Any = None
    name: str | None = None
    config: dict[str, Any] | None = None
    has_config: bool = False

    @classmethod
    def parse(cls, body: Any, *, allow: tuple[str, ...] = ("credential", "name", "config")) -> "SetupRequest":
        if not isinstance(body, dict):
            raise BadRequestError("Request body must be a JSON object")
        for key in body:
            if key not in allow:
                raise BadRequestError(f"Field '{key}' is not allowed" if len(key) <= 40 else "Unknown field in body")
        name = body.get("name")
        if "name" in body and (not isinstance(name, str) or not 1 <= len(name.strip()) <= 100):
            raise BadRequestError("Field 'name' must be a string of 1 to 100 characters")
        config = body.get("config")
        if "config" in body and not isinstance(config, dict):
            raise BadRequestError("Field 'config' must be an object")
        return cls(body.get("credential"), name.strip() if name else None, config, "config" in body)


class IntegrationService:
    def __init__(
        self,
        *,
        store: Store,
        cipher: Cipher,
        queue: ValidationQueue,
        registry: Registry,
        validators: Callable[[str], Validator],
        settings: Settings,
        status_events: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.store = store
        self.cipher = cipher
        self.queue = queue
        self.registry = registry
        self.validators = validators
        self.settings = settings
        self.status_events = status_events
        self.clock = clock

    # -- organisations and authentication -----------------------------------------------------

    def create_org(self, slug: str) -> str:
        """Create an org; return its API key (shown once: only its SHA-256 is stored)."""
        check_org_slug(slug)
        api_key = "itg_" + secrets.token_urlsafe(32)
        key_hash = hash_api_key(api_key)
        self.store.create_org(Org(slug=slug, api_key_id="key_" + key_hash[:12], api_key_hash=key_hash,
                                  created_at=self.clock()))
        return api_key

    def authenticate(self, api_key: str | None, org: str) -> Actor:
        if not api_key:
            raise UnauthorizedError()
        key_hash = hash_api_key(api_key)
        found = self.store.find_org_by_key_hash(key_hash)
        if found is None or not hmac.compare_digest(found.api_key_hash, key_hash):
            raise UnauthorizedError()
        check_org_slug(org)
        if not hmac.compare_digest(found.slug.encode(), org.encode()):
            raise ForbiddenError()
        return Actor(org=found.slug, key_id=found.api_key_id)

    # -- reads --------------------------------------------------------------------------------

    def list(self, actor: Actor, category: str | None = None) -> dict[str, Any]:
        if category is not None and category not in CATEGORIES:
            raise BadRequestError("Query parameter 'category' must be one of cloud, llm, saas")
        stored = {i.provider: i for i in self.store.list_integrations(actor.org)}
        items = []
        for provider in self.registry.available(category):
            item = stored.get(provider.key)
            items.append(integration_view(item) if item else
                         not_configured_view(actor.org, provider.key, provider.category, provider.display_name))
        return {"org": actor.org, "integrations": items}

    def get(self, actor: Actor, provider_key: str) -> dict[str, Any]:
        self.registry.get(provider_key)
        return integration_view(self._require(actor.org, provider_key))

    def events(self, actor: Actor, provider_key: str, limit: Any = None, cursor: str | None = None) -> dict[str, Any]:
        self.registry.get(provider_key)
        size = _page_size(limit)
        before = _decode_cursor(cursor) if cursor else None
        rows = self.store.list_events(actor.org, provider_key, size + 1, before)
        page, more = rows[:size], len(rows) > size
        next_cursor = _encode_cursor(page[-1]) if more and page else None
        return {"events": [e.view() for e in page], "next_cursor": next_cursor}

    # -- setup --------------------------------------------------------------------------------

    def setup(self, actor: Actor, provider_key: str, body: Any, *, wait: bool = False) -> dict[str, Any]:
        provider = self.registry.get(provider_key)
        request = SetupRequest.parse(body)
        config = provider.validate_config(request.config)
        bind(org=actor.org, provider=provider.key)
        if provider.manual:
            return integration_view(self._setup_manual(actor, provider, request, config))
        credential = self._parse_credential(provider, request.credential)
        self._check_format(provider, credential, config)
        existing = self.store.get_integration(actor.org, provider.key)
        check_action("setup", existing.status if existing else Status.NOT_CONFIGURED)
        fingerprint = credential.fingerprint()
        if existing and existing.credential and existing.credential.fingerprint == fingerprint:
            return integration_view(self._setup_same_credential(actor, provider, existing, request, config, wait))
        self._count_attempt(actor.org, provider.key)
        item = self._store_new_credential(actor, provider, credential, request, config)
        self._audit(item, "setup", actor.key_id, "ok", fingerprint, {"version": item.credential.version})
        if wait:
            item = self._validate_with(item, credential, target="current", actor=actor.key_id, inline=True)
        else:
            item = self._enqueue(item, item.credential.credential_id, item.credential.version)
        return integration_view(item)

    def _setup_manual(self, actor: Actor, provider: Provider, request: SetupRequest, config: dict[str, Any]) -> Integration:
        if request.credential is not None:
            raise BadRequestError(f"Field 'credential' is not allowed: {provider.key} is entered by hand")
        if not request.has_config:
            raise BadRequestError("Field 'config' is required")

        def change(current: Integration | None) -> Integration:
            check_action("setup", current.status if current else Status.NOT_CONFIGURED)
            return self._fresh(actor.org, provider, current, request.name).model_copy(update={
                "status": Status.ACTIVE, "status_code": None, "status_message": None, "config": config,
                "last_validated_at": self.clock()})

        item = self._write(actor.org, provider.key, change)
        self._audit(item, "setup", actor.key_id, "ok", None, {})
        return item

    def _setup_same_credential(self, actor: Actor, provider: Provider, existing: Integration,
                               request: SetupRequest, config: dict[str, Any], wait: bool) -> Integration:
        """Same credential again: no new version. New name/config are applied; a changed config
        or a credential never validated (a lost queue message) is validated again."""
        new_name = request.name or existing.name
        new_config = config if request.has_config else existing.config
        needs_validation = new_config != existing.config or existing.status is Status.PENDING
        if new_name == existing.name and not needs_validation:
            return existing
        if needs_validation:
            self._count_attempt(actor.org, provider.key)

        def change(current: Integration | None) -> Integration:
            current = self._still(current, existing)
            update: dict[str, Any] = {"name": new_name, "config": new_config, "updated_at": self.clock()}
            if needs_validation:
                update.update(status=Status.PENDING, status_code=None, status_message=None)
            return current.model_copy(update=update)

        item = self._write(actor.org, provider.key, change)
        self._audit(item, "setup", actor.key_id, "ok", existing.credential.fingerprint, {"unchanged_credential": True})
        if needs_validation:
            if wait:
                return self._validate_stored(item, "current", actor.key_id)
            return self._enqueue(item, item.credential.credential_id, item.credential.version)
        return item

    # -- rotate -------------------------------------------------------------------------------

    def rotate(self, actor: Actor, provider_key: str, body: Any, *, wait: bool = False) -> dict[str, Any]:
        provider = self.registry.get(provider_key)
        request = SetupRequest.parse(body)
        bind(org=actor.org, provider=provider.key)
        if provider.manual:
            raise BadRequestError(f"Provider {provider.key} is entered by hand and has no credential to rotate")
        existing = self._require(actor.org, provider.key)
        config = provider.validate_config(request.config) if request.has_config else existing.config
        credential = self._parse_credential(provider, request.credential)
        self._check_format(provider, credential, config)
        check_action("rotate", existing.status)
        if existing.credential and existing.credential.fingerprint == credential.fingerprint():
            raise BadRequestError("Field 'credential' is the credential already in force: nothing to rotate")
        self._count_attempt(actor.org, provider.key)
        item = self._stage_rotation(actor, provider, credential, request, config)
        self._audit(item, "rotate", actor.key_id, "ok", item.rotation.fingerprint, {"version": item.rotation.version})
        if wait:
            item = self._validate_with(item, credential, target="rotation", actor=actor.key_id, inline=True)
        else:
            item = self._enqueue(item, item.rotation.credential_id, item.rotation.version)
        return integration_view(item)

    # -- validate -----------------------------------------------------------------------------

    def validate(self, actor: Actor, provider_key: str) -> dict[str, Any]:
        provider = self.registry.get(provider_key)
        bind(org=actor.org, provider=provider.key)
        existing = self._require(actor.org, provider.key)
        check_action("validate", existing.status)
        if provider.manual:
            self._audit(existing, "validate", actor.key_id, "ok", None, {})
            return integration_view(existing)
        self._count_attempt(actor.org, provider.key)
        target = "rotation" if existing.rotation and existing.rotation.status != "failed" else "current"
        item, result = self._check(existing, self._decrypt(existing, target), target, actor.key_id, inline=True)
        if result is not None and result.transient:
            # Nothing is known about the key; the integration records it, the caller retries later.
            raise ProviderUnavailableError(_result_message(result) if result.outcome != "provider_unavailable" else None)
        return integration_view(item)

    # -- disable / enable / edit / delete -----------------------------------------------------

    def disable(self, actor: Actor, provider_key: str) -> dict[str, Any]:
        provider = self.registry.get(provider_key)
        existing = self._require(actor.org, provider.key)

        def change(current: Integration | None) -> Integration:
            current = self._still(current, existing)
            check_action("disable", current.status)
            return self._moved(current, Status.DISABLED, None, "Disabled by the organization")

        item = self._write(actor.org, provider.key, change)
        self._audit(item, "disable", actor.key_id, "ok", _fp(item), {})
        return integration_view(item)

    def enable(self, actor: Actor, provider_key: str) -> dict[str, Any]:
        provider = self.registry.get(provider_key)
        existing = self._require(actor.org, provider.key)
        check_action("enable", existing.status)
        target = Status.ACTIVE if provider.manual else Status.PENDING

        def change(current: Integration | None) -> Integration:
            current = self._still(current, existing)
            check_action("enable", current.status)
            return self._moved(current, target, None, None)

        item = self._write(actor.org, provider.key, change)
        self._audit(item, "enable", actor.key_id, "ok", _fp(item), {})
        if not provider.manual:
            item = self._enqueue(item, item.credential.credential_id, item.credential.version)
            if item.rotation and item.rotation.status != "failed":  # its message was dropped while disabled
                item = self._enqueue(item, item.rotation.credential_id, item.rotation.version)
        return integration_view(item)

    def edit(self, actor: Actor, provider_key: str, body: Any) -> dict[str, Any]:
        provider = self.registry.get(provider_key)
        request = SetupRequest.parse(body, allow=("name", "config"))
        existing = self._require(actor.org, provider.key)
        check_action("edit", existing.status)
        config = provider.validate_config(request.config) if request.has_config else existing.config
        # A config change can change the verdict (e.g. the billing table): validate again.
        # Not an "attempt" of the rate limit: API.md counts setup, rotate and validate only.
        revalidate = not provider.manual and config != existing.config and existing.status is not Status.DISABLED

        def change(current: Integration | None) -> Integration:
            current = self._still(current, existing)
            check_action("edit", current.status)
            item = current.model_copy(update={"name": request.name or current.name, "config": config,
                                              "updated_at": self.clock()})
            return self._moved(item, Status.PENDING, None, None) if revalidate else item

        item = self._write(actor.org, provider.key, change)
        self._audit(item, "edit", actor.key_id, "ok", _fp(item),
                    {"fields": sorted(k for k in ("name", "config") if getattr(request, k) is not None)})
        if revalidate:
            item = self._enqueue(item, item.credential.credential_id, item.credential.version)
        return integration_view(item)

    def delete(self, actor: Actor, provider_key: str) -> None:
        provider = self.registry.get(provider_key)
        for _ in range(CAS_ATTEMPTS):
            existing = self._require(actor.org, provider.key)
            check_action("delete", existing.status)
            try:
                self.store.delete_integration(actor.org, provider.key, existing.revision)
            except ConflictError:
                _pause()
                continue
            # The integration goes first: a crash here leaves unreferenced ciphertext,
            # collected by the next write, never an integration pointing at nothing.
            self.store.delete_credentials(actor.org, provider.key)
            self._audit(existing, "delete", actor.key_id, "ok", _fp(existing), {})
            self._status_changed(existing, existing.status, Status.NOT_CONFIGURED, None)
            return
        raise _busy()

    # -- the validator function ---------------------------------------------------------------

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

    def _has_key(self, item: Integration) -> bool:
        try:
            return not self.registry.get(item.provider).manual
        except IntegrationsError:  # a provider removed from the registry: nothing to call
            return False

    # -- decryption for the cost pipelines (never over HTTP) ----------------------------------

    def decrypt_for_pipeline(self, org: str, provider_key: str, pipeline: str) -> Credential:
        """The plaintext credential of an active integration, for a cost pipeline's run.

        Writes a `decrypt` audit event naming the pipeline. Never exposed over HTTP.
        """
        provider = self.registry.get(provider_key)
        if provider.manual:
            raise BadRequestError(f"Provider {provider.key} is entered by hand and has no credential")
        item = self._require(org, provider.key)
        try:
            check_action("decrypt", item.status)
        except InvalidTransitionError:
            self._audit(item, "decrypt", pipeline, "invalid_transition", _fp(item), {})
            raise
        credential = self._decrypt(item, "current")
        self._audit(item, "decrypt", pipeline, "ok", _fp(item), {"version": item.credential.version})
        return credential

    # -- master key rotation ------------------------------------------------------------------

    def rewrap(self, batch_size: int = 100) -> dict[str, Any]:
        """Re-encrypt every stored credential under the primary key version.

        Resumable and safe to interrupt: each ciphertext is swapped only if unchanged since
        read (compare-and-set), and a run skips what already uses the primary version.
        Reports how many ciphertexts use each key version afterwards.
        """
        primary = self.cipher.primary_key_version()
        rewrapped = skipped = 0
        counts: dict[str, int] = {}
        after: tuple[str, str, str] | None = None
        while True:
            page = self.store.list_credentials(after, batch_size)
            for record in page:
                version = record.key_version
                if version != primary:
                    ad = associated_data(record.org, record.provider, record.version)
                    plaintext = self.cipher.decrypt(record.ciphertext, ad)
                    sealed = self.cipher.encrypt(plaintext, ad)
                    del plaintext
                    swapped = self.store.replace_ciphertext(
                        record.model_copy(update={"ciphertext": sealed.ciphertext, "key_version": sealed.key_version}),
                        record.ciphertext)
                    if swapped:
                        rewrapped += 1
                        version = sealed.key_version
                    else:
                        skipped += 1
                counts[version] = counts.get(version, 0) + 1
            if len(page) < batch_size:
                break
            last = page[-1]
            after = (last.org, last.provider, last.credential_id)
        return {"primary": primary, "rewrapped": rewrapped, "skipped_changed": skipped, "by_key_version": counts}

    # -- internals: writing -------------------------------------------------------------------

    def _write(self, org: str, provider: str, change: Callable[[Integration | None], Integration]) -> Integration:
        """Read, change, compare-and-set; retried on conflict. `change` may raise to abort."""
        for _ in range(CAS_ATTEMPTS):
            current = self.store.get_integration(org, provider)
            item = change(current)
            try:
                saved = (self.store.insert_integration(item) if current is None
                         else self.store.update_integration(item, current.revision))
            except ConflictError:
                _pause()
                continue
            if current is None or current.status != saved.status:
                self._status_changed(saved, current.status if current else Status.NOT_CONFIGURED, saved.status,
                                     saved.status_message)
            return saved
        raise _busy()

    def _store_new_credential(self, actor: Actor, provider: Provider, credential: Credential,
                              request: SetupRequest, config: dict[str, Any]) -> Integration:
        for _ in range(CAS_ATTEMPTS):
            current = self.store.get_integration(actor.org, provider.key)
            check_action("setup", current.status if current else Status.NOT_CONFIGURED)
            version = current.credential.version + 1 if current and current.credential else 1
            record = self._seal(actor.org, provider.key, credential, version)
            item = self._fresh(actor.org, provider, current, request.name).model_copy(update={
                "status": Status.PENDING, "status_code": None, "status_message": None, "config": config,
                "credential": _ref(record), "rotation": None, "last_validated_at": None})
            saved = self._commit_with_credential(record, item, current)
            if saved is None:
                continue
            replaced = {c.credential_id for c in (current.credential, current.rotation) if c} if current else set()
            self._destroy(actor.org, provider.key, replaced, keep=record.credential_id)
            return saved
        raise _busy()

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
        raise _busy()

    def _seal(self, org: str, provider: str, credential: Credential, version: int) -> CredentialRecord:
        """Encrypt (bound to org, provider, version); EncryptionError means nothing was stored."""
        sealed = self.cipher.encrypt(credential.value.encode("utf-8"), associated_data(org, provider, version))
        return CredentialRecord(
            org=org, provider=provider, credential_id=uuid.uuid4().hex, version=version,
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
            _pause()
            return None
        except BaseException:
            _quietly(self.store.delete_credential, record.org, record.provider, record.credential_id)
            raise
        self._status_changed(saved, current.status if current else Status.NOT_CONFIGURED, saved.status, None)
        return saved

    def _destroy(self, org: str, provider: str, credential_ids: set[str], keep: str) -> None:
        for credential_id in credential_ids - {keep}:
            self.store.delete_credential(org, provider, credential_id)
        # Orphans of a crashed write (old enough that no write in flight can own them).
        self.store.delete_credentials(org, provider, keep=frozenset({keep}) | _referenced(
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

    # -- internals: validating ----------------------------------------------------------------

    def _validate_stored(self, item: Integration, target: str, actor: str, *, inline: bool = True,
                         action: str = "validate") -> Integration:
        credential = self._decrypt(item, target)
        return self._check(item, credential, target, actor, inline=inline, action=action)[0]

    def _validate_with(self, item: Integration, credential: Credential, *, target: str, actor: str,
                       inline: bool, action: str = "validate") -> Integration:
        return self._check(item, credential, target, actor, inline=inline, action=action)[0]

    def _decrypt(self, item: Integration, target: str) -> Credential:
        ref = item.rotation if target == "rotation" else item.credential
        record = self.store.get_credential(item.org, item.provider, ref.credential_id)
        if record is None:
            raise NotConfiguredError("Integration not configured: its stored credential is missing, set it up again")
        plaintext = self.cipher.decrypt(record.ciphertext, associated_data(item.org, item.provider, record.version))
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
        except _Stale:
            # Replaced, deleted or disabled meanwhile: this verdict is about nothing in force.
            log.info("validation result dropped: the credential changed meanwhile")
            return self.store.get_integration(item.org, item.provider) or item, None

    def _check_owned(self, item: Integration, credential: Credential, credential_id: str, target: str,
                     actor: str, inline: bool, action: str) -> tuple[Integration, ValidationResult]:
        if target == "rotation" or item.status in (Status.PENDING, Status.ERROR):
            item = self._mark(item, credential_id, target, "validating")
        provider = self.registry.get(item.provider)
        result = self._validator(provider).validate(credential, item.config)
        log.info("provider answered", extra={"fields": {"outcome": result.outcome, "target": target}})
        if result.transient and not inline:
            self._mark(item, credential_id, target, "pending",
                       message=f"{_result_message(result)}: retrying")
            self._audit(item, action, actor, result.outcome, _target_fp(item, target), {"retrying": True})
            raise RetryLater(result.outcome)
        saved = self._record_result(item, credential_id, target, result)
        self._audit(saved, action, actor, "ok" if result.outcome == "valid" else result.outcome,
                    _target_fp(item, target), {"target": target, **({"detail": result.detail} if result.detail else {})})
        return saved, result

    def _mark(self, item: Integration, credential_id: str, target: str, state: str, message: str | None = None
              ) -> Integration:
        """Move the targeted credential to validating (or back to pending while a retry is due)."""

        def change(current: Integration | None) -> Integration:
            current = self._owned(current, credential_id, target)
            if target == "rotation":
                return current.model_copy(update={"rotation": current.rotation.model_copy(
                    update={"status": state, "message": message}), "updated_at": self.clock()})
            return self._moved(current, Status(state), None, message)

        return self._write(item.org, item.provider, change)

    def _record_result(self, item: Integration, credential_id: str, target: str,
                       result: ValidationResult) -> Integration:
        now = self.clock()
        message = None if result.outcome == "valid" else _result_message(result)
        code = None if result.outcome == "valid" else result.outcome

        def change(current: Integration | None) -> Integration:
            current = self._owned(current, credential_id, target)
            if target == "rotation":
                if result.outcome == "valid":
                    rot = current.rotation
                    ref = CredentialRef(credential_id=rot.credential_id, version=rot.version,
                                        fingerprint=rot.fingerprint, hint=rot.hint, created_at=rot.created_at)
                    return self._moved(current, Status.ACTIVE, None, None).model_copy(update={
                        "credential": ref, "rotation": None, "last_validated_at": now})
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

        saved = self._write(item.org, item.provider, change)
        if target == "rotation" and result.outcome == "valid" and item.credential:
            self.store.delete_credential(item.org, item.provider, item.credential.credential_id)
        return saved

    # -- small helpers ------------------------------------------------------------------------

    def _owned(self, current: Integration | None, credential_id: str, target: str) -> Integration:
        """The integration, if `credential_id` is still the one targeted; else the work is stale."""
        ref = None if current is None else (current.rotation if target == "rotation" else current.credential)
        if current is None or ref is None or ref.credential_id != credential_id or current.status is Status.DISABLED:
            raise _Stale()
        return current

    def _still(self, current: Integration | None, expected: Integration) -> Integration:
        if current is None:
            raise NotConfiguredError()
        return current

    def _moved(self, item: Integration, status: Status, code: str | None, message: str | None) -> Integration:
        check_transition(item.status, status)
        return item.model_copy(update={"status": status, "status_code": code, "status_message": message,
                                       "updated_at": self.clock()})

    def _fresh(self, org: str, provider: Provider, current: Integration | None, name: str | None) -> Integration:
        now = self.clock()
        if current is not None:
            return current.model_copy(update={"name": name or current.name, "updated_at": now})
        return Integration(org=org, provider=provider.key, category=provider.category,
                           name=name or provider.display_name, status=Status.NOT_CONFIGURED,
                           created_at=now, updated_at=now)

    def _require(self, org: str, provider: str) -> Integration:
        item = self.store.get_integration(org, provider)
        if item is None:
            raise NotConfiguredError()
        return item

    def _validator(self, provider: Provider) -> Validator:
        return self.validators(provider.validator)

    def _check_format(self, provider: Provider, credential: Credential, config: dict[str, Any]) -> None:
        """The catalogue's message word for word; which part failed (never its value) goes to the log."""
        try:
            self._validator(provider).check_format(credential, config)
        except InvalidFormatError as error:
            log.info("credential format rejected", extra={"fields": {"reason": error.message}})
            raise InvalidFormatError() from None

    def _parse_credential(self, provider: Provider, raw: Any) -> Credential:
        if raw is None:
            raise BadRequestError("Field 'credential' is required")
        if provider.credential == "service_account":
            if isinstance(raw, str):
                try:
                    raw = json.loads(raw)
                except (ValueError, RecursionError):
                    raise InvalidFormatError() from None
            if not isinstance(raw, dict):
                raise InvalidFormatError()
            return Credential.service_account(raw)
        if not isinstance(raw, str):
            raise BadRequestError("Field 'credential' must be a string")
        value = raw.strip()
        if not value or len(value) > 4096:
            raise InvalidFormatError()
        return Credential(secret=value, kind="api_key")

    def _count_attempt(self, org: str, provider: str) -> None:
        limit, window = self.settings.rate_limit
        if not self.store.try_record_attempt(org, provider, self.clock(), window, limit):
            raise RateLimitedError(headers={"Retry-After": str(window)})

    def _audit(self, item: Integration, action: str, actor: str, outcome: str, fingerprint: str | None,
               details: dict[str, Any]) -> None:
        self.store.append_event(Event(
            id=_event_id(), org=item.org,
            provider=item.provider, at=self.clock(), action=action, actor=actor, outcome=outcome,
            fingerprint=fingerprint[:8] if fingerprint else None, details=details))

    def _status_changed(self, item: Integration, before: Status, after: Status, message: str | None) -> None:
        if before == after:
            return
        event = {"org": item.org, "provider": item.provider, "from": before.value, "to": after.value,
                 "message": message, "at": self.clock().isoformat()}
        log.info("status changed", extra={"fields": {"from": before.value, "to": after.value}})
        _quietly(self.store.append_event, Event(
            id=_event_id(), org=item.org,
            provider=item.provider, at=self.clock(), action="status_change", actor=SYSTEM, outcome="ok",
            fingerprint=(_fp(item) or "")[:8] or None, details={"from": before.value, "to": after.value, "message": message}))
        if self.status_events is not None:
            _quietly(self.status_events, event)


class _Stale(IntegrationsError):
    """The credential a validation was about is no longer the one targeted."""

    code = "invalid_transition"

    def __init__(self) -> None:
        super().__init__("The credential changed while it was being validated")


_id_lock = threading.Lock()
_last_id_ns = 0


def _event_id() -> str:
    """Grows with time, strictly within a process, so events of one millisecond keep their
    order (the list is sorted by (at, id)); the random tail keeps ids unique across processes."""
    global _last_id_ns
    with _id_lock:
        _last_id_ns = max(_last_id_ns + 1, time.time_ns())
        stamp = _last_id_ns
    return f"{stamp:020d}-{uuid.uuid4().hex[:8]}"


def _result_message(result: ValidationResult) -> str:
    base = catalogue_message(result.outcome)
    return f"{base}: {result.detail}" if result.detail else base


def _ref(record: CredentialRecord) -> CredentialRef:
    return CredentialRef(credential_id=record.credential_id, version=record.version,
                         fingerprint=record.fingerprint, hint=record.hint, created_at=record.created_at)


def _referenced(item: Integration | None) -> frozenset[str]:
    if item is None:
        return frozenset()
    return frozenset(c.credential_id for c in (item.credential, item.rotation) if c)


def _fp(item: Integration) -> str | None:
    return item.credential.fingerprint if item.credential else None


def _target_fp(item: Integration, target: str) -> str | None:
    ref = item.rotation if target == "rotation" else item.credential
    return ref.fingerprint if ref else None


def _page_size(limit: Any) -> int:
    if limit is None or limit == "":
        return 50
    try:
        size = int(limit)
    except (TypeError, ValueError):
        raise BadRequestError("Query parameter 'limit' must be an integer from 1 to 500") from None
    if not 1 <= size <= 500:
        raise BadRequestError("Query parameter 'limit' must be an integer from 1 to 500")
    return size


def _encode_cursor(event: Event) -> str:
    import base64

    return base64.urlsafe_b64encode(f"{event.at.isoformat()}|{event.id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    import base64

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, event_id = raw.partition("|")
        return datetime.fromisoformat(at), event_id
    except (ValueError, UnicodeDecodeError):
        raise BadRequestError("Query parameter 'cursor' is invalid") from None


def _pause() -> None:
    time.sleep(random.uniform(0.001, 0.02))


def _busy() -> InvalidTransitionError:
    return InvalidTransitionError("The integration is being changed by another request: retry")


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.warning("best-effort step failed", exc_info=True)
