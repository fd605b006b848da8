"""The use cases: setup, validate, list, get, delete, rotate, disable, enable, edit, events,
handle a validation message, revalidate, decrypt for a pipeline, rewrap.

Entry points only parse and render; everything that decides lives here and in the two
modules mixed in: credential_writes.py (compare-and-set writes, retried on conflict, so
concurrent requests never leave a half-written record) and validation_flow.py (from
"validate this credential" to a verdict on record). Small shared helpers: service_support.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from .credential_writes import CredentialWrites
from .domain.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InvalidFormatError,
    InvalidTransitionError,
    NotConfiguredError,
    ProviderUnavailableError,
    RateLimitedError,
    UnauthorizedError,
)
from .domain.lifecycle import Status, check_action, check_transition
from .domain.models import (
    Credential,
    Event,
    Integration,
    Org,
    integration_view,
    not_configured_view,
    utcnow,
)
from .logs import bind
from .ports import Cipher, Store, ValidationQueue, Validator
from .registry import CATEGORIES, Provider, Registry
from .service_support import (  # noqa: F401 - RetryLater, associated_data, QUEUE_FAILED, ORPHAN_AGE: public names
    CAS_ATTEMPTS,
    ORPHAN_AGE,
    QUEUE_FAILED,
    SYSTEM,
    RetryLater,
    associated_data,
    busy_error,
    decode_cursor,
    encode_cursor,
    event_id,
    fingerprint_of,
    page_size,
    pause,
    quietly,
    result_message,
)
from .settings import Settings
from .validation_flow import ValidationFlow

log = logging.getLogger(__name__)

ORG_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
def check_org_slug(org: str) -> str:
    if not (3 <= len(org) <= 50) or not set(org) <= ORG_SLUG_CHARS:
        raise BadRequestError("Organization slug must be 3 to 50 characters of a-z, 0-9 and _")
    return org


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


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


class IntegrationService(CredentialWrites, ValidationFlow):
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
        size = page_size(limit)
        before = decode_cursor(cursor) if cursor else None
        rows = self.store.list_events(actor.org, provider_key, size + 1, before)
        page, more = rows[:size], len(rows) > size
        next_cursor = encode_cursor(page[-1]) if more and page else None
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
            raise ProviderUnavailableError(result_message(result) if result.outcome != "provider_unavailable" else None)
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
        self._audit(item, "disable", actor.key_id, "ok", fingerprint_of(item), {})
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
        self._audit(item, "enable", actor.key_id, "ok", fingerprint_of(item), {})
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
        # Not an "attempt" of the rate limit: only setup, rotate and validate count (README).
        revalidate = not provider.manual and config != existing.config and existing.status is not Status.DISABLED

        def change(current: Integration | None) -> Integration:
            current = self._still(current, existing)
            check_action("edit", current.status)
            item = current.model_copy(update={"name": request.name or current.name, "config": config,
                                              "updated_at": self.clock()})
            return self._moved(item, Status.PENDING, None, None) if revalidate else item

        item = self._write(actor.org, provider.key, change)
        self._audit(item, "edit", actor.key_id, "ok", fingerprint_of(item),
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
                pause()
                continue
            # The integration goes first: a crash here leaves unreferenced ciphertext,
            # collected by the next write, never an integration pointing at nothing.
            self.store.delete_credentials(actor.org, provider.key)
            self._audit(existing, "delete", actor.key_id, "ok", fingerprint_of(existing), {})
            self._status_changed(existing, existing.status, Status.NOT_CONFIGURED, None)
            return
        raise busy_error()


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
            self._audit(item, "decrypt", pipeline, "invalid_transition", fingerprint_of(item), {})
            raise
        credential = self._decrypt(item, "current")
        self._audit(item, "decrypt", pipeline, "ok", fingerprint_of(item), {"version": item.credential.version})
        return credential




    # -- small helpers ------------------------------------------------------------------------

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
            id=event_id(), org=item.org,
            provider=item.provider, at=self.clock(), action=action, actor=actor, outcome=outcome,
            fingerprint=fingerprint[:8] if fingerprint else None, details=details))

    def _status_changed(self, item: Integration, before: Status, after: Status, message: str | None) -> None:
        if before == after:
            return
        event = {"org": item.org, "provider": item.provider, "from": before.value, "to": after.value,
                 "message": message, "at": self.clock().isoformat()}
        log.info("status changed", extra={"fields": {"from": before.value, "to": after.value}})
        quietly(self.store.append_event, Event(
            id=event_id(), org=item.org,
            provider=item.provider, at=self.clock(), action="status_change", actor=SYSTEM, outcome="ok",
            fingerprint=(fingerprint_of(item) or "")[:8] or None, details={"from": before.value, "to": after.value, "message": message}))
        if self.status_events is not None:
            quietly(self.status_events, event)


