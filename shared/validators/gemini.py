"""Gemini: `GET {gemini_base_url}/v1beta/models` with `x-goog-api-key` (never `?key=`). Valid: inference."""

from __future__ import annotations

import re
from typing import Any

import httpx

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.ports import ValidationResult

from .base import HttpValidator, unexpected, valid
from .http import RETRY_AFTER_CAP_SECONDS, header_retry_after, json_body, parse_duration

GEMINI_KEY = re.compile(r"AIza[A-Za-z0-9_-]{35}")
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"

# ErrorInfo reasons of a 403, and what to tell the user about each.
BLOCKED_REASONS = {
    "API_KEY_SERVICE_BLOCKED": "the key is restricted to other APIs than the Generative Language API",
    "API_KEY_HTTP_REFERRER_BLOCKED": "the key is restricted to certain HTTP referrers",
    "API_KEY_IP_ADDRESS_BLOCKED": "the key is restricted to certain IP addresses",
    "API_KEY_ANDROID_APP_BLOCKED": "the key is restricted to certain Android apps",
    "API_KEY_IOS_APP_BLOCKED": "the key is restricted to certain iOS apps",
}


def google_error(response: httpx.Response) -> tuple[str, list[dict[str, Any]]]:
    """(status, details) of a google.rpc.Status error body."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", []
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    return str(error.get("status") or ""), details


def error_info(details: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    for detail in details:
        if detail.get("@type") == ERROR_INFO:
            metadata = detail.get("metadata")
            return str(detail.get("reason") or ""), metadata if isinstance(metadata, dict) else {}
    return "", {}


def retry_delay(response: httpx.Response) -> float | None:
    """RetryInfo.retryDelay from the body, else `retry-after`."""
    for detail in google_error(response)[1]:
        if detail.get("@type") == RETRY_INFO:
            delay = parse_duration(detail.get("retryDelay"))
            if delay is not None:
                return min(delay, RETRY_AFTER_CAP_SECONDS)
    return header_retry_after(response)


def project_of(metadata: dict[str, Any]) -> str | None:
    consumer = str(metadata.get("consumer") or metadata.get("containerInfo") or "")
    project = consumer.removeprefix("projects/")
    return project if re.fullmatch(r"[a-z0-9-]{1,64}", project) else None


class GeminiValidator(HttpValidator):
    provider = "Gemini"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        if credential.kind != "api_key" or not GEMINI_KEY.fullmatch(credential.value):
            raise InvalidFormatError()

    def ask(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        url = self.settings.gemini_base_url.rstrip("/") + "/v1beta/models"
        headers = {"x-goog-api-key": credential.value, "accept": "application/json"}
        outcome = self.get(url, headers, retry_after=retry_delay)
        if outcome.result is not None:
            return outcome.result
        assert outcome.response is not None
        return self.interpret(outcome.response)

    def interpret(self, response: httpx.Response) -> ValidationResult:
        status = response.status_code
        rpc_status, details = google_error(response)
        reason, metadata = error_info(details)
        if status == 200:
            return valid("inference")
        if reason in ("API_KEY_INVALID", "API_KEY_EXPIRED") or status == 401:
            return ValidationResult("invalid_credentials", None)
        if status == 403 or rpc_status == "PERMISSION_DENIED":
            if reason == "SERVICE_DISABLED":
                project = project_of(metadata)
                where = f" in project {project}" if project else " in the key's project"
                return ValidationResult("missing_permissions", f"Generative Language API is disabled{where}")
            if reason in BLOCKED_REASONS:
                return ValidationResult("missing_permissions", BLOCKED_REASONS[reason])
            return ValidationResult("missing_permissions", "the key may not call the Generative Language API")
        if rpc_status == "FAILED_PRECONDITION":
            return ValidationResult(
                "missing_permissions", "the Gemini API is not available for this project: billing or region required"
            )
        return unexpected(self.provider, status)
