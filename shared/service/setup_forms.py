"""The setup form of a provider (GET /{org}/{provider}/setup): what a setup of it needs, for a
frontend to draw the form before anything is stored.

All of it comes from the registry (configs/providers.yml): the credential's kind, the hint of
what to paste and the steps written beside each provider, and the JSON Schema of `config`,
built from the definitions `validate_config` checks with, so the form never promises what a
setup refuses. Nothing is read from the store: no integration needs to exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..logs import bind

if TYPE_CHECKING:
    from ..registry import Registry
    from .requests import Actor


class SetupForms:
    def __init__(self, registry: Registry):
        self._registry = registry

    def form(self, actor: Actor, provider_key: str) -> dict[str, Any]:
        provider = self._registry.get(provider_key)  # unknown or planned: 404 unknown_provider
        bind(org=actor.org, provider=provider.key)
        # A provider that needs more than a credential and a config (a block of its own, keyed
        # by the provider, for example one naming values the org must paste elsewhere) adds it here.
        return {
            "provider": provider.key,
            "category": provider.category,
            "display_name": provider.display_name,
            "credential": {"kind": provider.credential, "hint": provider.hint},
            "config_schema": provider.config_schema(),
            "steps": list(provider.steps),
        }
