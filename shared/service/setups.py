"""The use cases that take or check a credential: setup, rotate, validate now.

Order inside each, cheapest first, so a refused request costs little: parse the body, the
cheap format check, one read of the store (the integration, its ciphertexts, the rate limit's
window), the lifecycle, the rate limit as read, then the expensive key check (a private key's
parsing), then the one unit of work that stores the sealed credential with its integration,
the attempt and the audit events, then a queued (or, with `?wait=true`, inline) validation.
"""

from __future__ import annotations

from typing import Any, Callable, TYPE_CHECKING

from ..domain.errors import BadRequestError, NotConfiguredError
from ..domain.lifecycle import Status, check_action
from ..domain.models import Credential, Integration, Rotation
from ..logs import bind
from .requests import Actor, SetupRequest, parse_credential
from .views import integration_view
from .writes import Plan, Writes

if TYPE_CHECKING:
    from .credentials import Credentials
    from .audit import Audit
    from ..ports import Snapshot, Store
    from .validation import Validation
    from ..registry import Provider, Registry
    from .limits import RateLimit
    from datetime import date, datetime


class Setups:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        credentials: Credentials,
        writes: Writes,
        audit: Audit,
        limits: RateLimit,
        validation: Validation,
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._registry = registry
        self._credentials = credentials
        self._writes = writes
        self._audit = audit
        self._limits = limits
        self._validation = validation
        self._clock = clock

    # -- setup --------------------------------------------------------------------------------

    def setup(self, actor: Actor, provider_key: str, body: Any, *, wait: bool = False) -> dict[str, Any]:
        provider = self._registry.get(provider_key)
        request = SetupRequest.parse(body)
        config = provider.validate_config(request.config)
        bind(org=actor.org, provider=provider.key)
        if provider.manual:
            return integration_view(self._setup_manual(actor, provider, request, config))
        expires_at = self._expiry(provider, request)
        credential = parse_credential(provider.credential, request.credential)
        self._credentials.check_format(provider, credential, config)
        seen = self._read(actor, provider, configured=False)
        existing = seen.integration
        check_action("setup", existing.status if existing else Status.NOT_CONFIGURED)
        if existing and existing.fingerprint == credential.fingerprint():
            return integration_view(
                self._setup_same_credential(actor, provider, seen, request, config, expires_at, wait)
            )
        self._limits.check(seen)
        self._credentials.check_key(provider, credential, config)
        item = self._store_new_credential(actor, provider, credential, request, config, expires_at, seen)
        return self._validate_now_or_later(actor, item, credential, "current", seen, wait)

    def _setup_manual(
        self, actor: Actor, provider: Provider, request: SetupRequest, config: dict[str, Any]
    ) -> Integration:
        if request.credential is not None:
            raise BadRequestError(f"Field 'credential' is not allowed: {provider.key} is entered by hand")
        if request.expires_at is not None:
            raise BadRequestError(f"Field 'expires_at' is not allowed: {provider.key} is entered by hand")
        if not request.has_config:
            raise BadRequestError("Field 'config' is required")

        def change(current: Integration | None) -> Integration:
            check_action("setup", current.status if current else Status.NOT_CONFIGURED)
            now = self._clock()
            return (
                self._fresh(actor, provider, current, request.name, now)
                .moved(Status.ACTIVE, None, None, now)
                .model_copy(update={"config": config, "last_validated_at": now})
            )

        return self._writes.write(
            actor.org, provider.key, change, audit=lambda i: ("setup", actor.key_id, "ok", None, {})
        )

    def _setup_same_credential(
        self,
        actor: Actor,
        provider: Provider,
        seen: Snapshot,
        request: SetupRequest,
        config: dict[str, Any],
        expires_at: date | None,
        wait: bool,
    ) -> Integration:
        """Same credential again: no new version. New name/config/expiry date are applied; a changed
        config, a credential never validated (a lost queue message) or an expired one given a new
        expiry date is validated again."""
        existing = seen.integration
        assert existing is not None
        new_name = request.name or existing.name
        new_config = config if request.has_config else existing.config
        old_expiry = existing.credential.expires_at if existing.credential else None
        new_expiry = expires_at or old_expiry
        needs_validation = (
            new_config != existing.config
            or existing.status is Status.PENDING
            or (new_expiry != old_expiry and existing.status is Status.EXPIRED)
        )
        if new_name == existing.name and new_expiry == old_expiry and not needs_validation:
            return existing
        if needs_validation:
            self._limits.check(seen)

        def change(current: Integration | None) -> Integration:
            if current is None:
                raise NotConfiguredError()
            update: dict[str, Any] = {"name": new_name, "config": new_config, "updated_at": self._clock()}
            if current.credential and new_expiry != current.credential.expires_at:  # a new date, warned anew
                update["credential"] = current.credential.model_copy(
                    update={"expires_at": new_expiry, "expiry_warned_at": None}
                )
            item = current.model_copy(update=update)
            return item.moved(Status.PENDING, None, None, self._clock()) if needs_validation else item

        item = self._writes.write(
            actor.org,
            provider.key,
            change,
            audit=lambda i: ("setup", actor.key_id, "ok", i.fingerprint, {"unchanged_credential": True}),
            first=seen,
            attempt=self._limits.window() if needs_validation else None,
        )
        if not needs_validation:
            return item
        if wait:
            credential = self._credentials.open(item, "current", seen)
            return self._validation.inline(item, credential, "current", actor.key_id, org_row=seen.org)
        return self._validation.enqueue(item, item.credential.credential_id, item.credential.version)

    def _store_new_credential(
        self,
        actor: Actor,
        provider: Provider,
        credential: Credential,
        request: SetupRequest,
        config: dict[str, Any],
        expires_at: date | None,
        seen: Snapshot,
    ) -> Integration:
        orphans = self._credentials.orphans(seen)

        def change(current: Integration | None) -> Plan:
            check_action("setup", current.status if current else Status.NOT_CONFIGURED)
            version = current.credential.version + 1 if current and current.credential else 1
            record = self._credentials.seal(actor.org, provider.key, credential, version)
            now = self._clock()
            item = (
                self._fresh(actor, provider, current, request.name, now)
                .moved(Status.PENDING, None, None, now)
                .model_copy(
                    update={
                        "config": config,
                        "credential": record.ref().model_copy(update={"expires_at": expires_at}),
                        "rotation": None,
                        "last_validated_at": None,
                        "capabilities": None,
                    }
                )
            )
            # The credentials this integration held go with the change (only those it read), and
            # so do ciphertexts nothing references that are old enough to belong to no write.
            held = current.credential_ids() if current else frozenset()
            return Plan(item, put=(record,), destroy=held | orphans)

        return self._writes.write(
            actor.org,
            provider.key,
            change,
            audit=lambda i: ("setup", actor.key_id, "ok", i.fingerprint, {"version": i.credential.version}),
            first=seen,
            attempt=self._limits.window(),
        )

    def _read(self, actor: Actor, provider: Provider, *, configured: bool, credentials: bool = True) -> Snapshot:
        """A use case's one read: the integration, its ciphertexts, the rate limit's window and,
        for a check bound to the org, the org's row. `configured`: NotConfiguredError if none."""
        asked = dict(credentials=credentials, attempts_since=self._limits.since(), with_org=provider.bound_to_org)
        if configured:
            return self._writes.snapshot(actor.org, provider.key, **asked)
        return self._store.read(actor.org, provider.key, **asked)

    def _validate_now_or_later(
        self, actor: Actor, item: Integration, credential: Credential, target: str, seen: Snapshot, wait: bool
    ) -> dict[str, Any]:
        """The credential just stored, validated while the request waits (`?wait=true`) or queued."""
        if wait:
            item = self._validation.inline(item, credential, target, actor.key_id, org_row=seen.org)
        else:
            ref = item.target(target)
            assert ref is not None
            item = self._validation.enqueue(item, ref.credential_id, ref.version)
        return integration_view(item)

    def _expiry(self, provider: Provider, request: SetupRequest) -> date | None:
        return request.checked_expiry(provider.key, provider.expiry_required, self._clock().date())

    @staticmethod
    def _fresh(
        actor: Actor, provider: Provider, current: Integration | None, name: str | None, now: datetime
    ) -> Integration:
        """The integration to change: the one stored (renamed if asked), or a new one."""
        if current is not None:
            return current.model_copy(update={"name": name or current.name, "updated_at": now})
        return Integration.new(actor.org, provider.key, provider.category, name or provider.display_name, now)

    # -- rotate -------------------------------------------------------------------------------

    def rotate(self, actor: Actor, provider_key: str, body: Any, *, wait: bool = False) -> dict[str, Any]:
        provider = self._registry.get(provider_key)
        request = SetupRequest.parse(body)
        bind(org=actor.org, provider=provider.key)
        if provider.manual:
            raise BadRequestError(f"Provider {provider.key} is entered by hand and has no credential to rotate")
        seen = self._read(actor, provider, configured=True, credentials=False)
        existing = seen.integration
        assert existing is not None
        config = provider.validate_config(request.config) if request.has_config else existing.config
        expires_at = self._expiry(provider, request)
        credential = parse_credential(provider.credential, request.credential)
        self._credentials.check_format(provider, credential, config)
        check_action("rotate", existing.status)
        if existing.fingerprint == credential.fingerprint():
            raise BadRequestError("Field 'credential' is the credential already in force: nothing to rotate")
        self._limits.check(seen)
        self._credentials.check_key(provider, credential, config)
        item = self._stage_rotation(actor, provider, credential, request, config, expires_at, seen)
        return self._validate_now_or_later(actor, item, credential, "rotation", seen, wait)

    def _stage_rotation(
        self,
        actor: Actor,
        provider: Provider,
        credential: Credential,
        request: SetupRequest,
        config: dict[str, Any],
        expires_at: date | None,
        seen: Snapshot,
    ) -> Integration:
        def change(current: Integration | None) -> Plan:
            if current is None:
                raise NotConfiguredError()
            check_action("rotate", current.status)
            record = self._credentials.seal(actor.org, provider.key, credential, current.credential.version + 1)
            rotation = Rotation(
                credential_id=record.credential_id,
                version=record.version,
                status="pending",
                fingerprint=record.fingerprint,
                hint=record.hint,
                created_at=record.created_at,
                expires_at=expires_at,
            )
            item = current.model_copy(
                update={
                    "rotation": rotation,
                    "name": request.name or current.name,
                    "config": config,
                    "updated_at": self._clock(),
                }
            )
            replaced = frozenset({current.rotation.credential_id}) if current.rotation else frozenset()
            return Plan(item, put=(record,), destroy=replaced)

        return self._writes.write(
            actor.org,
            provider.key,
            change,
            audit=lambda i: ("rotate", actor.key_id, "ok", i.rotation.fingerprint, {"version": i.rotation.version}),
            first=seen,
            attempt=self._limits.window(),
        )

    # -- validate -----------------------------------------------------------------------------

    def validate(self, actor: Actor, provider_key: str) -> dict[str, Any]:
        provider = self._registry.get(provider_key)
        bind(org=actor.org, provider=provider.key)
        seen = self._read(actor, provider, configured=True)
        existing = seen.integration
        assert existing is not None
        check_action("validate", existing.status)
        if provider.manual:
            self._audit.record(existing, "validate", actor.key_id, "ok", None, {})
            return integration_view(existing)
        self._limits.check(seen)
        target = "rotation" if existing.rotation and existing.rotation.status != "failed" else "current"
        # A check that first marks the credential `validating` counts its attempt with that
        # change; one on an active integration changes nothing before the call: alone.
        attempt = self._limits.window() if self._validation.marks(existing, target) else None
        if attempt is None:
            self._limits.count(actor.org, provider.key)
        credential = self._credentials.open(existing, target, seen)
        checked = self._validation.inline(existing, credential, target, actor.key_id, attempt=attempt, org_row=seen.org)
        return integration_view(checked)
