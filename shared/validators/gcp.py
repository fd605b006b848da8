"""GCP service account: strict key-file checks, then a live check against Google.

Live check (shared/PROVIDERS.md): a JWT-bearer token grant at `settings.gcp_token_uri`
(proves the key is live), `datasets.list` on the key's project, then a dry-run query
of `config.billing_export_table` (no bytes billed).
"""

from __future__ import annotations

from typing import Any

import httpx

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.ports import ValidationResult

from .base import HttpValidator
from .gcp_format import check_service_account


class GcpValidator(HttpValidator):
    provider = "Google Cloud"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        check_service_account(credential, config, self.settings)

    def validate(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        try:
            check_service_account(credential, config, self.settings)
        except InvalidFormatError as exc:
            return ValidationResult("invalid_credentials", exc.message)
        return ValidationResult("valid", "service account format checked; live check not performed")
