"""The use cases on an integration as a whole: list, get, the audit trail, disable, enable,
edit (name and config, never the credential), delete."""

from __future__ import annotations

from typing import Any, Callable, TYPE_CHECKING

from ..domain.errors import BadRequestError, NotConfiguredError
from ..domain.lifecycle import Status, check_action
from ..registry import CATEGORIES, Registry
from .requests import Actor, SetupRequest, decode_cursor, encode_cursor, page_size
from .views import event_view, integration_view, not_configured_view
from .writes import Plan, Writes

if TYPE_CHECKING:
    from ..domain.models import Integration
    from .validation import Validation
    from .limits import RateLimit
    from ..ports import Store
    from datetime import datetime


class Integrations:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        writes: Writes,
        limits: RateLimit,
        validation: Validation,
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._registry = registry
        self._writes = writes
        self._limits = limits
        self._validation = validation
        self._clock = clock

    # -- reads --------------------------------------------------------------------------------

    def list(self, actor: Actor, category: str | None = None) -> dict[str, Any]:
        if category is not None and category not in CATEGORIES:
            raise BadRequestError("Query parameter 'category' must be one of cloud, llm, saas")
        stored = {i.provider: i for i in self._store.list_integrations(actor.org)}
        items = []
        for provider in self._registry.available(category):
            item = stored.get(provider.key)
            items.append(
                integration_view(item)
                if item
                else not_configured_view(actor.org, provider.key, provider.category, provider.display_name)
            )
        return {"org": actor.org, "integrations": items}

    def get(self, actor: Actor, provider_key: str) -> dict[str, Any]:
        self._registry.get(provider_key)
        return integration_view(self._writes.require(actor.org, provider_key))

    def events(self, actor: Actor, provider_key: str, limit: Any = None, cursor: str | None = None) -> dict[str, Any]:
        self._registry.get(provider_key)
        size = page_size(limit)
        before = decode_cursor(cursor) if cursor else None
        rows = self._store.list_events(actor.org, provider_key, size + 1, before)
        page, more = rows[:size], len(rows) > size
        next_cursor = encode_cursor(page[-1]) if more and page else None
        return {"events": [event_view(e) for e in page], "next_cursor": next_cursor}

    # -- lifecycle ----------------------------------------------------------------------------

    def disable(self, actor: Actor, provider_key: str) -> dict[str, Any]:
        provider = self._registry.get(provider_key)

        def change(current: Integration | None) -> Integration:
            current = _present(current)
            check_action("disable", current.status)
            return current.moved(Status.DISABLED, None, "Disabled by the organization", self._clock())

        return integration_view(
            self._writes.write(
                actor.org, provider.key, change, audit=lambda i: ("disable", actor.key_id, "ok", i.fingerprint, {})
            )
        )

    def enable(self, actor: Actor, provider_key: str) -> dict[str, Any]:
        provider = self._registry.get(provider_key)
        seen = self._writes.snapshot(actor.org, provider.key, attempts_since=self._limits.since())
        check_action("enable", seen.integration.status)
        target = Status.ACTIVE if provider.manual else Status.PENDING
        if not provider.manual:  # enabling queues a provider call: it counts like a validate
            self._limits.check(seen)

        def change(current: Integration | None) -> Integration:
            current = _present(current)
            check_action("enable", current.status)
            return current.moved(target, None, None, self._clock())

        item = self._writes.write(
            actor.org,
            provider.key,
            change,
            audit=lambda i: ("enable", actor.key_id, "ok", i.fingerprint, {}),
            first=seen,
            attempt=None if provider.manual else self._limits.window(),
        )
        if not provider.manual:
            item = self._validation.enqueue(item, item.credential.credential_id, item.credential.version)
            if item.rotation and item.rotation.status != "failed":  # its message was dropped while disabled
                item = self._validation.enqueue(item, item.rotation.credential_id, item.rotation.version)
        return integration_view(item)

    def edit(self, actor: Actor, provider_key: str, body: Any) -> dict[str, Any]:
        provider = self._registry.get(provider_key)
        request = SetupRequest.parse(body, allow=("name", "config"))
        seen = self._writes.snapshot(actor.org, provider.key, attempts_since=self._limits.since())
        existing = seen.integration
        check_action("edit", existing.status)
        config = provider.validate_config(request.config) if request.has_config else existing.config
        # A config change can change the verdict (e.g. the billing table): validate again. It
        # calls the provider, so it counts toward the rate limit like every such path.
        revalidate = not provider.manual and config != existing.config and existing.status is not Status.DISABLED
        if revalidate:
            self._limits.check(seen)

        def change(current: Integration | None) -> Integration:
            current = _present(current)
            check_action("edit", current.status)
            now = self._clock()
            item = current.model_copy(
                update={"name": request.name or current.name, "config": config, "updated_at": now}
            )
            return item.moved(Status.PENDING, None, None, now) if revalidate else item

        fields = request.fields()
        item = self._writes.write(
            actor.org,
            provider.key,
            change,
            audit=lambda i: ("edit", actor.key_id, "ok", i.fingerprint, {"fields": fields}),
            first=seen,
            attempt=self._limits.window() if revalidate else None,
        )
        if revalidate:
            item = self._validation.enqueue(item, item.credential.credential_id, item.credential.version)
        return integration_view(item)

    def delete(self, actor: Actor, provider_key: str) -> None:
        provider = self._registry.get(provider_key)

        def change(current: Integration | None) -> Plan:
            current = _present(current)
            check_action("delete", current.status)
            # Only the ciphertexts of the integration read here (compare-and-set): never one a
            # concurrent setup has just stored for the integration that replaces it.
            return Plan(None, destroy=current.credential_ids())

        self._writes.write(
            actor.org, provider.key, change, audit=lambda i: ("delete", actor.key_id, "ok", i.fingerprint, {})
        )


def _present(current: Integration | None) -> Integration:
    if current is None:
        raise NotConfiguredError()
    return current
