"""What every API-key validator shares: a client, a format gate, a retried GET."""

from __future__ import annotations

from typing import Any

import httpx

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.ports import ValidationResult
from shared.settings import Settings

from .http import Outcome, make_client, request_with_retries


class HttpValidator:
    """Base for validators that call a provider over HTTP with one reusable client."""

    provider = "provider"

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self._client = make_client(settings, transport)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        raise NotImplementedError

    def check_key(self, credential: Credential, config: dict[str, Any]) -> None:
        """The expensive rest of the format check; API keys have none."""

    def format_gate(self, credential: Credential, config: dict[str, Any]) -> ValidationResult | None:
        """A stored key that fails the format check can never be valid: say so without calling."""
        try:
            self.check_format(credential, config)
        except InvalidFormatError as exc:
            return ValidationResult("invalid_credentials", exc.message)
        return None

    def get(self, url: str, headers: dict[str, str], **kwargs: Any) -> Outcome:
        return request_with_retries(self._client, "GET", url, self.settings, headers=headers, provider=self.provider, **kwargs)


def unexpected(provider: str, status: int) -> ValidationResult:
    """An answer no documentation explains: not the key's fault, worth trying again later."""
    return ValidationResult("provider_unavailable", f"{provider} answered HTTP {status} unexpectedly")
