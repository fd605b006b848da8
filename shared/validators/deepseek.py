"""DeepSeek: OpenAI-compatible, Bearer key, no /v1 (see docs/providers.md).

`GET {deepseek_base_url}/models` proves inference; then `GET {deepseek_base_url}/user/balance`
reads the balance, the only cost signal DeepSeek offers. Valid: inference, balance.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.ports import ValidationResult

from .base import unreadable, valid
from .http import json_body
from .openai import OpenAICompatibleValidator, openai_is_transient

# Issued keys are `sk-` + 32 hex; accept a wider alphanumeric body in case that changes.
DEEPSEEK_KEY = re.compile(r"sk-[A-Za-z0-9]{16,128}")
NO_BALANCE = "the DeepSeek account has no balance: requests will fail until it is topped up at platform.deepseek.com"


class DeepSeekValidator(OpenAICompatibleValidator):
    provider = "DeepSeek"

    def models_url(self) -> str:
        return self.settings.deepseek_base_url.rstrip("/") + "/models"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        if credential.kind != "api_key" or not DEEPSEEK_KEY.fullmatch(credential.value):
            raise InvalidFormatError()

    def request_headers(self, credential: Credential, config: dict[str, Any]) -> dict[str, str]:
        return {"authorization": f"Bearer {credential.value}", "accept": "application/json"}

    def ask(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        models = self.check_models(credential, config)
        if models.outcome != "valid":
            return models
        return self.check_balance(credential, config)

    def interpret(self, response: httpx.Response, credential: Credential) -> ValidationResult:
        if response.status_code == 402:
            return ValidationResult("missing_permissions", "the DeepSeek account has insufficient balance")
        return super().interpret(response, credential)

    def check_balance(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        url = self.settings.deepseek_base_url.rstrip("/") + "/user/balance"
        outcome = self.get(url, self.request_headers(credential, config), is_transient=openai_is_transient)
        if outcome.result is not None:
            # Down or rate limited: nothing is known about the balance yet, so the verdict is
            # transient (retried) rather than a valid key recorded with fewer capabilities.
            return outcome.result
        response = outcome.response
        assert response is not None
        body = json_body(response)
        if response.status_code == 200:
            available = body.get("is_available") if isinstance(body, dict) else None
            if not isinstance(available, bool):
                return unreadable(self.provider)
            return valid("inference", "balance", detail=None if available else NO_BALANCE)
        # The key serves requests (the model list answered) but the balance is refused: still a
        # working key, recorded without `balance`; a pipeline that needs it asks for it.
        return valid(
            "inference",
            detail=f"DeepSeek refused to show the account balance (HTTP {response.status_code}): balance not tracked",
        )
