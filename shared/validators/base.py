"""What every provider validator shares: a client, a format gate, a retried GET, and the
promise that `validate` ends in a verdict within its time, whatever a provider sends."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.ports import ValidationResult
from shared.settings import Settings

from .http import Outcome, make_client, request_with_retries, validation_deadline

log = logging.getLogger(__name__)


class HttpValidator:
    """Base for validators that call a provider over HTTP with one reusable client.

    Subclasses implement `check_format` (cheap), optionally `check_key` (expensive), and
    `ask` (the provider calls, once the credential passed both).
    """

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
        """Nothing costly to check for an API key."""

    def ask(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        raise NotImplementedError

    def format_gate(self, credential: Credential, config: dict[str, Any]) -> ValidationResult | None:
        """A stored key that fails the format check can never be valid: say so without calling."""
        try:
            self.check_format(credential, config)
            self.check_key(credential, config)
        except InvalidFormatError as exc:
            return ValidationResult("invalid_credentials", exc.message)
        return None

    def validate(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        """The provider's verdict, within `validation_timeout_seconds`. Never raises: an answer
        no interpreter foresaw (a parser's RecursionError, a field of an odd type) is
        `provider_unavailable`, and only the error's type is logged."""
        try:
            with validation_deadline(self.settings.validation_timeout_seconds):
                return self.format_gate(credential, config) or self.ask(credential, config)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.warning("provider answer could not be read",
                        extra={"fields": {"provider": self.provider, "error_type": type(exc).__name__}})  # fmt: skip
            return unreadable(self.provider)

    def get(self, url: str, headers: dict[str, str], **kwargs: Any) -> Outcome:
        return request_with_retries(
            self._client, "GET", url, self.settings, headers=headers, provider=self.provider, **kwargs
        )


def valid(*capabilities: str, detail: str | None = None, remark: str | None = None) -> ValidationResult:
    """A valid verdict with what the check proved (names from domain.models.CAPABILITIES):
    `detail` becomes the status message ("Valid: ..."), `remark` goes to the audit event only."""
    return ValidationResult("valid", detail, capabilities, remark)


def unreadable(provider: str) -> ValidationResult:
    """A success status whose body is not the page the provider documents: nothing is proven."""
    return ValidationResult("provider_unavailable", f"{provider} sent an answer that could not be read")


def unexpected(provider: str, status: int) -> ValidationResult:
    """An answer no documentation explains: not the key's fault, worth trying again later."""
    return ValidationResult("provider_unavailable", f"{provider} answered HTTP {status} unexpectedly")
