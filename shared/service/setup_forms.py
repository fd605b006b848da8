"""The setup form of a provider (GET /{org}/{provider}/setup): what a setup of it needs, for a
frontend to draw the form before anything is stored.

All of it comes from configs/providers.yml: the credential's kind (the registry), the hint of
what to paste and the steps written beside each provider (`setup:`), and the JSON Schema of
`config`, built from the definitions `Provider.validate_config` checks with (the SaaS
subscription model, the config fields and their patterns), so the form never promises what a
setup refuses (tests/unit/test_config_schema.py holds the two to the same verdicts). Nothing is
read from the store: no integration needs to exist.

The texts and the schema are read and built here, not by the registry that every function
loads: only this function's cold start pays for them.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

from ..logs import bind
from ..registry import CONFIG_DIR, saas_config_model

if TYPE_CHECKING:
    from ..registry import Provider, Registry
    from .aws_setup import AwsSetup
    from .requests import Actor


class SetupForms:
    def __init__(self, registry: Registry, aws: Callable[[], AwsSetup] | None = None):
        self._registry = registry
        self._aws = aws  # built only when the AWS form is asked for

    def form(self, actor: Actor, provider_key: str) -> dict[str, Any]:
        provider = self._registry.get(provider_key)  # unknown or planned: 404 unknown_provider
        bind(org=actor.org, provider=provider.key)
        texts = setup_texts().get(provider.key, {})
        # A provider that needs more than a credential and a config (a block of its own, keyed
        # by the provider, for example one naming values the org must paste elsewhere) adds it here.
        form = {
            "provider": provider.key,
            "category": provider.category,
            "display_name": provider.display_name,
            "credential": {"kind": provider.credential, "hint": texts.get("hint", "")},
            "config_schema": config_schema(provider),
            "steps": list(texts.get("steps") or ()),
        }
        if provider.credential == "aws_role" and self._aws is not None:
            form["aws"] = self._aws().block(actor.org)  # the org's external ID and the policies to paste
        return form


@lru_cache(maxsize=1)
def setup_texts() -> dict[str, dict[str, Any]]:
    """Each provider's `setup:` block of configs/providers.yml."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load((CONFIG_DIR / "providers.yml").read_text(), Loader=loader)  # noqa: S506 - a safe loader
    return {key: spec.get("setup") or {} for key, spec in raw["providers"].items()}


def config_schema(provider: Provider) -> dict[str, Any]:
    """The JSON Schema (2020-12) of what `provider.validate_config` accepts."""
    if provider.manual:
        return copy.deepcopy(_subscription_schema())
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if provider.config_fields:
        schema["properties"] = {
            f.name: {"type": "string", **({"pattern": _anchored(f.pattern)} if f.pattern else {})}
            for f in provider.config_fields
        }
    required = [f.name for f in provider.config_fields if f.required]
    if required:
        schema["required"] = required
    return schema


@lru_cache(maxsize=1)
def _subscription_schema() -> dict[str, Any]:
    schema = saas_config_model().model_json_schema()  # the currency list is the model's schema extra
    schema.pop("title", None)
    for spec in schema["properties"].values():
        spec.pop("title", None)
    return schema


def _anchored(pattern: str) -> str:
    """JSON Schema searches with a pattern, validate_config fullmatches it: anchor it."""
    return pattern if pattern.startswith("^") and pattern.endswith("$") else f"^(?:{pattern})$"
