"""Provider validators: one module per provider, built by `get_validator`.

Modules are imported only when asked for, so a process that validates one provider
does not load the others.
"""

from __future__ import annotations

import importlib

import httpx

from shared.domain.errors import UnknownProviderError
from shared.ports import Validator
from shared.settings import Settings

# validator name (the `validator` key in configs/providers.yml) -> (module, class)
VALIDATORS: dict[str, tuple[str, str]] = {
    "openai": ("shared.validators.openai", "OpenAIValidator"),
    "anthropic": ("shared.validators.anthropic", "AnthropicValidator"),
    "gemini": ("shared.validators.gemini", "GeminiValidator"),
    "deepseek": ("shared.validators.deepseek", "DeepSeekValidator"),
    "gcp": ("shared.validators.gcp", "GcpValidator"),
    "aws": ("shared.validators.aws", "AwsValidator"),
    "azure": ("shared.validators.azure", "AzureValidator"),
}


def get_validator(name: str, settings: Settings, transport: httpx.BaseTransport | None = None) -> Validator:
    spec = VALIDATORS.get(name)
    if spec is None:
        raise UnknownProviderError("Unknown provider: no validator for it")
    module_name, class_name = spec
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings, transport)
