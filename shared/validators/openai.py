"""OpenAI (see docs/providers.md). The check follows the key type:

- Admin keys (`sk-admin-`): `GET {openai_base_url}/organization/costs` (last 24 h, `limit=1`),
  what the cost pipelines call; OpenAI refuses admin keys on `/models`. Valid: costs, usage.
- Every other `sk-` key (an unknown sub-prefix included): `GET {openai_base_url}/models`.
  Valid: inference, with a detail saying where an Admin key (for costs) is made.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.ports import ValidationResult

from .base import HttpValidator, unexpected, unreadable, valid
from .http import default_is_transient, json_body

# `sk-` then the body; sub-prefixes (proj-, svcacct-, admin-, none) are hints, not rules:
# only `sk-admin-` changes the check, and an unknown one gets the model-list check.
OPENAI_KEY = re.compile(r"sk-[A-Za-z0-9_-]{20,400}")
ADMIN_PREFIX = "sk-admin-"
# The scope the organization costs and usage endpoints need (Admin keys only).
USAGE_SCOPE = "api.usage.read"
ADMIN_KEYS_PAGE = "platform.openai.com/settings/organization/admin-keys"
# What a user does to read costs: said wherever a detail talks about costs.
ADMIN_KEY_HINT = f"create an Admin key (sk-admin-...) at {ADMIN_KEYS_PAGE}"
INFERENCE_ONLY = f"reads no costs (inference only); for costs, {ADMIN_KEY_HINT}"
READ_ONLY_ADMIN = (
    f"the Admin key lacks the scope {USAGE_SCOPE}, so it reads no costs or usage: "
    f"give it read access to Usage, or {ADMIN_KEY_HINT} with that access"
)
COSTS_DENIED = f"OpenAI denied the key access to the organization costs: {ADMIN_KEY_HINT}"
COSTS_WINDOW_SECONDS = 24 * 3600


def error_fields(response: httpx.Response) -> tuple[str, str, str]:
    """(code, type, message) of an OpenAI-style error body, each '' when absent."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", "", ""
    return tuple(str(error.get(k) or "") for k in ("code", "type", "message"))  # type: ignore[return-value]


def is_insufficient_quota(response: httpx.Response) -> bool:
    code, kind, _ = error_fields(response)
    return response.status_code == 429 and "insufficient_quota" in (code, kind)


def openai_is_transient(response: httpx.Response) -> bool:
    """A 429 for quota is the account's state, not a passing limit: never retried."""
    return default_is_transient(response) and not is_insufficient_quota(response)


def is_missing_scope(code: str, message: str) -> bool:
    """OpenAI says "Missing scopes: ..." with a 401 or a 403 (both seen): match the message."""
    lowered = message.lower()
    return code == "missing_scope" or "insufficient permissions" in lowered or "missing scopes" in lowered


def is_page(response: httpx.Response) -> bool:
    """A documented list page: `{"data": [...], ...}` (the costs endpoint adds `object: page`)."""
    body = json_body(response)
    return isinstance(body, dict) and isinstance(body.get("data"), list)


class OpenAICompatibleValidator(HttpValidator):
    """The OpenAI protocol: Bearer key, `/models`, OpenAI error bodies."""

    provider = "OpenAI"

    def models_url(self) -> str:
        return self.settings.openai_base_url.rstrip("/") + "/models"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        value = credential.value
        if credential.kind != "api_key" or value.startswith("sk-ant-") or not OPENAI_KEY.fullmatch(value):
            raise InvalidFormatError()

    def request_headers(self, credential: Credential, config: dict[str, Any]) -> dict[str, str]:
        headers = {"authorization": f"Bearer {credential.value}", "accept": "application/json"}
        if config.get("organization"):
            headers["openai-organization"] = str(config["organization"])
        if config.get("project"):
            headers["openai-project"] = str(config["project"])
        return headers

    def ask(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        return self.check_models(credential, config)

    def check_models(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        outcome = self.get(
            self.models_url(), self.request_headers(credential, config), is_transient=openai_is_transient
        )
        if outcome.result is not None:
            return outcome.result
        assert outcome.response is not None
        return self.interpret(outcome.response, credential)

    def models_valid(self, credential: Credential) -> ValidationResult:
        return valid("inference")

    def interpret(self, response: httpx.Response, credential: Credential) -> ValidationResult:
        # Never copy the provider's message: OpenAI's echoes part of the key.
        status = response.status_code
        code, kind, message = error_fields(response)
        if status == 200:
            return self.models_valid(credential)
        if status in (401, 403) and is_missing_scope(code, message):
            return ValidationResult("missing_permissions", "the key lacks the scope to list models (api.model.read)")
        if status == 401:
            return ValidationResult("invalid_credentials", None)
        if status == 403:
            if "unsupported_country" in code:
                return ValidationResult("missing_permissions", f"{self.provider} does not serve this country or region")
            return ValidationResult("missing_permissions", f"{self.provider} denied access to the model list")
        if is_insufficient_quota(response):
            return ValidationResult(
                "missing_permissions", "the account has insufficient quota (check plan and billing)"
            )
        return unexpected(self.provider, status)


class OpenAIValidator(OpenAICompatibleValidator):
    def ask(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        if credential.value.startswith(ADMIN_PREFIX):
            return self.check_costs(credential, config)
        return self.check_models(credential, config)

    def models_valid(self, credential: Credential) -> ValidationResult:
        return valid("inference", detail=INFERENCE_ONLY)

    # -- Admin keys: one page of the organization costs, what the cost pipeline reads
    def check_costs(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        since = int(time.time()) - COSTS_WINDOW_SECONDS
        url = self.settings.openai_base_url.rstrip("/") + "/organization/costs" + f"?start_time={since}&limit=1"
        # The organization APIs are not scoped to a project: `config.project` is not sent.
        headers = self.request_headers(credential, {k: v for k, v in config.items() if k != "project"})
        outcome = self.get(url, headers, is_transient=openai_is_transient)
        if outcome.result is not None:
            return outcome.result
        assert outcome.response is not None
        return self.interpret_costs(outcome.response)

    def interpret_costs(self, response: httpx.Response) -> ValidationResult:
        status = response.status_code
        code, _, message = error_fields(response)
        if status == 200:
            return valid("costs", "usage", remark="admin key") if is_page(response) else unreadable(self.provider)
        if status in (401, 403) and is_missing_scope(code, message):
            return ValidationResult("missing_permissions", READ_ONLY_ADMIN)
        if status == 401:
            return ValidationResult("invalid_credentials", None)
        if status == 403:
            if "unsupported_country" in code:
                return ValidationResult("missing_permissions", f"{self.provider} does not serve this country or region")
            return ValidationResult("missing_permissions", COSTS_DENIED)
        if is_insufficient_quota(response):
            return ValidationResult(
                "missing_permissions", "the account has insufficient quota (check plan and billing)"
            )
        return unexpected(self.provider, status)
