"""The provider registry, loaded once from configs/providers.yml.

SaaS providers (credential `none`) share one config schema: a manually entered
subscription. Other providers declare the optional, non-secret config keys they take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from .domain.errors import BadRequestError, UnknownProviderError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
CATEGORIES = ("cloud", "llm", "saas")

# ISO 4217 codes we accept for manual entries (the active ones in common use).
CURRENCIES = frozenset(
    "USD EUR GBP JPY CHF CAD AUD NZD SEK NOK DKK PLN CZK HUF INR CNY HKD SGD KRW BRL MXN ZAR ILS AED SAR TRY".split()
)


@lru_cache(maxsize=1)
def saas_config_model() -> type:
    """The manual-entry config model, built on first use: a pydantic model class costs
    milliseconds to build, which every cold start would pay for nothing."""
    from pydantic import BaseModel, ConfigDict, Field, field_validator

    class SaasConfig(BaseModel):
        """A subscription entered by hand: no credential, nothing to call."""

        model_config = ConfigDict(extra="forbid")

        plan: str = Field(min_length=1, max_length=100)
        seats: int = Field(ge=0, le=10_000_000, strict=True)
        monthly_cost: float = Field(ge=0, le=1e12)
        currency: str = Field(json_schema_extra={"enum": sorted(CURRENCIES)})
        billing_cycle: Literal["monthly", "annual"]

        @field_validator("monthly_cost", "seats", mode="before")
        @classmethod
        def _number(cls, value: Any) -> Any:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("must be a number")
            # JSON has one number type: 12.0 is the integer 12, as in JSON Schema (the setup form's).
            return int(value) if isinstance(value, float) and value.is_integer() else value

        @field_validator("currency")
        @classmethod
        def _iso4217(cls, value: str) -> str:
            if value not in CURRENCIES:
                raise ValueError("must be an ISO 4217 currency code such as USD")
            return value

    return SaasConfig


@dataclass(frozen=True)
class ConfigField:
    name: str
    pattern: str | None = None
    required: bool = False


@dataclass(frozen=True)
class Provider:
    key: str
    display_name: str
    category: str
    credential: Literal["api_key", "service_account", "aws_role", "azure_service_principal", "none"] = "none"
    validator: str | None = None
    planned: bool = False
    config_fields: tuple[ConfigField, ...] = field(default_factory=tuple)
    # The scheduled revalidation checks it at most once in this many days (AWS: each check costs).
    revalidate_days: int = 1

    @property
    def manual(self) -> bool:
        return self.credential == "none"

    @property
    def bound_to_org(self) -> bool:
        """Its check needs the org's row (AWS: the org's external ID goes with every AssumeRole)."""
        return self.credential == "aws_role"

    @property
    def expiry_required(self) -> bool:
        """The credential always expires (an Azure client secret): setup and rotate need `expires_at`.
        A property, not a field: each dataclass field costs every cold start its share of code generation."""
        return self.credential == "azure_service_principal"

    def validate_config(self, config: Any) -> dict[str, Any]:
        """Return the config if it fits this provider, else raise bad_request naming the field."""
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise BadRequestError("Field 'config' must be an object")
        if self.manual:
            try:
                return saas_config_model().model_validate(config).model_dump()
            except ValidationError as exc:
                first = exc.errors()[0]
                if first["type"] == "extra_forbidden":  # never named: the key is request input
                    raise BadRequestError(
                        "Unknown field in 'config': a subscription takes plan, seats, "
                        "monthly_cost, currency, billing_cycle"
                    ) from None
                where = ".".join(str(p) for p in first["loc"]) or "config"
                reason = (
                    "is required"
                    if first["type"] == "missing"
                    else ("is invalid: " + first["msg"].removeprefix("Value error, "))
                )
                raise BadRequestError(f"Field 'config.{where}' {reason}") from None
        known = {f.name: f for f in self.config_fields}
        for key, value in config.items():
            spec = known.get(key)
            if spec is None:  # never named: the key is request input
                allowed = ", ".join(sorted(known)) or "none"
                raise BadRequestError(f"Unknown field in 'config': {self.key} takes {allowed}")
            if not isinstance(value, str) or (spec.pattern and not re.fullmatch(spec.pattern, value)):
                raise BadRequestError(f"Field 'config.{key}' is invalid")
        for spec in self.config_fields:
            if spec.required and spec.name not in config:
                raise BadRequestError(f"Field 'config.{spec.name}' is required")
        return dict(config)


class Registry:
    def __init__(self, providers: dict[str, Provider]):
        self._providers = providers

    def get(self, key: str) -> Provider:
        """The provider, or unknown_provider (404) naming it; planned ones say so."""
        provider = self._providers.get(key)
        if provider is None:
            raise UnknownProviderError()  # never named: the name is request input
        if provider.planned:
            raise UnknownProviderError(f"Provider {key} is planned and not available yet")
        return provider

    def available(self, category: str | None = None) -> list[Provider]:
        return [p for p in self._providers.values() if not p.planned and (category is None or p.category == category)]


def load_registry(path: Path | None = None) -> Registry:
    import yaml  # here, not at the top: only the first request that needs the registry pays

    # libyaml when present: the same safe loading, ~10 ms less on every cold start.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load((path or CONFIG_DIR / "providers.yml").read_text(), Loader=loader)  # noqa: S506 - a safe loader
    providers: dict[str, Provider] = {}
    for key, spec in raw["providers"].items():
        if spec["category"] not in CATEGORIES:
            raise ValueError(f"provider {key}: unknown category {spec['category']}")
        fields = tuple(
            ConfigField(name=name, pattern=f.get("pattern"), required=bool(f.get("required", False)))
            for name, f in (spec.get("config") or {}).items()
        )
        providers[key] = Provider(
            key=key,
            display_name=spec["display_name"],
            category=spec["category"],
            credential=spec.get("credential", "none"),
            validator=spec.get("validator"),
            planned=spec.get("status") == "planned",
            config_fields=fields,
            revalidate_days=int(spec.get("revalidate_days", 1)),
        )
    return Registry(providers)


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    return load_registry()
