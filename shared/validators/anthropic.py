"""Anthropic, with `x-api-key` (see docs/providers.md). The check follows the key type:

- Admin keys (`sk-ant-admin01-`): `GET {anthropic_base_url}/v1/organizations/cost_report`
  (from the start of yesterday, UTC, `limit=1`), what the cost pipelines call; Anthropic
  refuses admin keys on `/v1/models`. Valid: costs, usage.
- API keys (`sk-ant-api03-`): `GET {anthropic_base_url}/v1/models`. Valid: inference, with a
  detail saying where an Admin key (for costs) is made.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.ports import ValidationResult

from .base import HttpValidator, unexpected, unreadable, valid
from .http import json_body

API_VERSION = "2023-06-01"
# API keys and admin keys only; OAuth tokens (sk-ant-oat01-, sk-ant-ort01-) are not API keys.
ANTHROPIC_KEY = re.compile(r"sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{93}AA")
ADMIN_PREFIX = "sk-ant-admin01-"
ADMIN_KEYS_PAGE = "console.anthropic.com/settings/admin-keys"
# What a user does to read costs: said wherever a detail talks about costs.
ADMIN_KEY_HINT = f"create an Admin key (sk-ant-admin01-...) at {ADMIN_KEYS_PAGE} (organization admins only)"
INFERENCE_ONLY = f"reads no costs (inference only); for costs, {ADMIN_KEY_HINT}"
NO_COST_REPORT = f"the key may not read the organization's cost report: {ADMIN_KEY_HINT}"
BILLING = "the Anthropic account has a billing problem (check plan and credits)"


def error_type(response: httpx.Response) -> str:
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("type") or "") if isinstance(error, dict) else ""


def yesterday(now: datetime | None = None) -> str:
    """The start of yesterday (UTC) in RFC 3339: the cost report's buckets are whole days."""
    day = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date() - timedelta(days=1)
    return f"{day.isoformat()}T00:00:00Z"


class AnthropicValidator(HttpValidator):
    provider = "Anthropic"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        if credential.kind != "api_key" or not ANTHROPIC_KEY.fullmatch(credential.value):
            raise InvalidFormatError()

    def ask(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        admin = credential.value.startswith(ADMIN_PREFIX)
        base = self.settings.anthropic_base_url.rstrip("/")
        if admin:
            url = base + "/v1/organizations/cost_report" + f"?starting_at={yesterday()}&limit=1"
        else:
            url = base + "/v1/models"
        headers = {"x-api-key": credential.value, "anthropic-version": API_VERSION, "accept": "application/json"}
        outcome = self.get(url, headers)
        if outcome.result is not None:
            return outcome.result
        assert outcome.response is not None
        return self.interpret_cost_report(outcome.response) if admin else self.interpret(outcome.response, credential)

    def interpret(self, response: httpx.Response, credential: Credential) -> ValidationResult:
        status, kind = response.status_code, error_type(response)
        if status == 200:
            return valid("inference", detail=INFERENCE_ONLY)
        if status == 401 or kind == "authentication_error":
            return ValidationResult("invalid_credentials", None)
        if status == 403 or kind == "permission_error":
            return ValidationResult("missing_permissions", "the key may not list models")
        if status == 402 or kind == "billing_error":
            return ValidationResult("missing_permissions", BILLING)
        return unexpected(self.provider, status)

    def interpret_cost_report(self, response: httpx.Response) -> ValidationResult:
        status, kind = response.status_code, error_type(response)
        if status == 200:
            body = json_body(response)
            readable = isinstance(body, dict) and isinstance(body.get("data"), list)
            return valid("costs", "usage", remark="admin key") if readable else unreadable(self.provider)
        if status == 401 or kind == "authentication_error":
            return ValidationResult("invalid_credentials", None)
        if status == 403 or kind == "permission_error":
            return ValidationResult("missing_permissions", NO_COST_REPORT)
        if status == 402 or kind == "billing_error":
            return ValidationResult("missing_permissions", BILLING)
        return unexpected(self.provider, status)
