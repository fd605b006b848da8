"""DeepSeek: OpenAI-compatible, `GET {deepseek_base_url}/models` (no /v1), Bearer key."""

from __future__ import annotations

import re
from typing import Any

import httpx

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.ports import ValidationResult

from .openai import OpenAICompatibleValidator

# Issued keys are `sk-` + 32 hex; accept a wider alphanumeric body in case that changes.
DEEPSEEK_KEY = re.compile(r"sk-[A-Za-z0-9]{16,128}")


class DeepSeekValidator(OpenAICompatibleValidator):
    provider = "DeepSeek"

    def models_url(self) -> str:
        return self.settings.deepseek_base_url.rstrip("/") + "/models"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        if credential.kind != "api_key" or not DEEPSEEK_KEY.fullmatch(credential.value):
            raise InvalidFormatError()

    def request_headers(self, credential: Credential, config: dict[str, Any]) -> dict[str, str]:
        return {"authorization": f"Bearer {credential.value}", "accept": "application/json"}

    def key_type(self, credential: Credential) -> str | None:
        return None

    def interpret(self, response: httpx.Response, credential: Credential) -> ValidationResult:
        if response.status_code == 402:
            return ValidationResult("missing_permissions", "the DeepSeek account has insufficient balance")
        return super().interpret(response, credential)
