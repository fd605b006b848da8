"""Anthropic: `GET {anthropic_base_url}/v1/models` with `x-api-key` (see docs/providers.md)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.ports import ValidationResult

from .base import HttpValidator, unexpected
from .http import json_body

API_VERSION = "2023-06-01"
# API keys and admin keys only; OAuth tokens (sk-ant-oat01-, sk-ant-ort01-) are not API keys.
ANTHROPIC_KEY = re.compile(r"sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{93}AA")


def error_type(response: httpx.Response) -> str:
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("type") or "") if isinstance(error, dict) else ""


class AnthropicValidator(HttpValidator):
    provider = "Anthropic"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        if credential.kind != "api_key" or not ANTHROPIC_KEY.fullmatch(credential.value):
            raise InvalidFormatError()

    def ask(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        url = self.settings.anthropic_base_url.rstrip("/") + "/v1/models"
        headers = {"x-api-key": credential.value, "anthropic-version": API_VERSION, "accept": "application/json"}
        outcome = self.get(url, headers)
        if outcome.result is not None:
            return outcome.result
        assert outcome.response is not None
        return self.interpret(outcome.response, credential)

    def interpret(self, response: httpx.Response, credential: Credential) -> ValidationResult:
        status, kind = response.status_code, error_type(response)
        if status == 200:
            admin = credential.value.startswith("sk-ant-admin01-")
            return ValidationResult("valid", "admin key" if admin else None)
        if status == 401 or kind == "authentication_error":
            return ValidationResult("invalid_credentials", None)
        if status == 403 or kind == "permission_error":
            return ValidationResult("missing_permissions", "the key may not list models")
        if status == 402 or kind == "billing_error":
            return ValidationResult(
                "missing_permissions", "the Anthropic account has a billing problem (check plan and credits)"
            )
        return unexpected(self.provider, status)
