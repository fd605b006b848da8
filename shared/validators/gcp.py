"""GCP service account: strict key-file checks, then a live check against Google.

Live check (docs/providers.md):
1. a JWT-bearer token grant at `settings.gcp_token_uri`, signed RS256 with the key's
   private key (this alone proves the key is live);
2. BigQuery `datasets.list` on the key's project;
3. a dry-run query (`jobs.insert` with dryRun: no bytes billed) of
   `config.billing_export_table`, or of `SELECT 1` when none is configured, which
   proves the account may run query jobs. Valid: `costs` when the table was read, else none.
The token endpoint comes only from settings, never from the uploaded file.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote

import httpx

from shared.domain.errors import BadRequestError
from shared.domain.models import Credential
from shared.ports import ValidationResult

from .base import HttpValidator, unexpected, valid
from .gcp_format import check_service_account, load_service_account, private_key_of
from .http import default_is_transient, json_body, request_with_retries

SCOPE = "https://www.googleapis.com/auth/bigquery"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_BIGQUERY_URL = "https://bigquery.googleapis.com/bigquery/v2"
JOB_USER = "roles/bigquery.jobUser"
DATA_VIEWER = "roles/bigquery.dataViewer"
# BigQuery says "slow down" with a 403 and one of these reasons.
TRANSIENT_REASONS = frozenset({"rateLimitExceeded", "backendError", "internalError"})
# Costs are proven only by reading the export table: without one the key is valid, with no capability.
NO_TABLE = (
    "token and BigQuery access checked; no billing export table configured: "
    "costs need config.billing_export_table (project.dataset.table of the billing export)"
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_assertion(info: dict[str, Any], private_key: Any, audience: str, now: int | None = None) -> str:
    """The RS256 JWT Google's token endpoint takes for a service account."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    issued = int(time.time()) if now is None else now
    header = {"alg": "RS256", "typ": "JWT", "kid": info["private_key_id"]}
    claims = {"iss": info["client_email"], "scope": SCOPE, "aud": audience, "iat": issued, "exp": issued + 3600}
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64(signature)


def bigquery_error(response: httpx.Response) -> tuple[str, str]:
    """(first reason, message) of a BigQuery error body."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return str(first.get("reason") or error.get("status") or ""), str(error.get("message") or "")


def bigquery_is_transient(response: httpx.Response) -> bool:
    if default_is_transient(response):
        return True
    return response.status_code == 403 and bigquery_error(response)[0] in TRANSIENT_REASONS


class GcpValidator(HttpValidator):
    provider = "Google Cloud"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        check_service_account(credential, config, self.settings)

    def check_key(self, credential: Credential, config: dict[str, Any]) -> None:
        private_key_of(credential)

    def format_gate(self, credential: Credential, config: dict[str, Any]) -> ValidationResult | None:
        try:
            return super().format_gate(credential, config)
        except BadRequestError:
            return ValidationResult("missing_permissions", "the billing export table name is invalid")

    def bigquery_url(self) -> str:
        if self.settings.bigquery_api_url:
            return self.settings.bigquery_api_url.rstrip("/")
        host = self.settings.bigquery_emulator_host
        if host:
            base = host if host.startswith(("http://", "https://")) else f"http://{host}"
            return base.rstrip("/") + "/bigquery/v2"
        return DEFAULT_BIGQUERY_URL

    def ask(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        info, private_key = load_service_account(credential), private_key_of(credential)  # parsed by the gate
        token = self._token(info, private_key)
        if isinstance(token, ValidationResult):
            return token
        project = info["project_id"]
        listed = self._list_datasets(project, token)
        if listed is not None:
            return listed
        return self._dry_run(project, token, config.get("billing_export_table"))

    # -- step 1: the token proves the key is live
    def _token(self, info: dict[str, Any], private_key: Any) -> str | ValidationResult:
        uri = self.settings.gcp_token_uri
        assertion = signed_assertion(info, private_key, uri)
        outcome = request_with_retries(
            self._client, "POST", uri, self.settings, headers={"accept": "application/json"},
            provider="Google OAuth", form={"grant_type": JWT_BEARER, "assertion": assertion},
        )  # fmt: skip
        if outcome.result is not None:
            return outcome.result
        response = outcome.response
        assert response is not None
        body = json_body(response)
        if response.status_code == 200 and isinstance(body, dict) and isinstance(body.get("access_token"), str):
            return body["access_token"]
        error = str(body.get("error") or "") if isinstance(body, dict) else ""
        if response.status_code in (400, 401) and error in (
            "invalid_grant",
            "invalid_client",
            "unauthorized_client",
            "disabled_client",
        ):
            return ValidationResult(
                "invalid_credentials", "Google refused the key: it is disabled, deleted or not this account's"
            )
        return unexpected("Google OAuth", response.status_code)

    def _bigquery(self, method: str, path: str, token: str, payload: Any = None) -> httpx.Response | ValidationResult:
        outcome = request_with_retries(
            self._client, method, self.bigquery_url() + path, self.settings,
            headers={"authorization": f"Bearer {token}", "accept": "application/json"},
            provider="BigQuery", is_transient=bigquery_is_transient, json_payload=payload,
            is_rate_limit=lambda r: r.status_code == 429 or bigquery_error(r)[0] == "rateLimitExceeded",
        )  # fmt: skip
        if outcome.result is not None:
            return outcome.result
        assert outcome.response is not None
        return outcome.response

    # -- step 2: the account can see its project's datasets
    def _list_datasets(self, project: str, token: str) -> ValidationResult | None:
        response = self._bigquery("GET", f"/projects/{quote(project, safe=':')}/datasets?maxResults=1", token)
        if isinstance(response, ValidationResult):
            return response
        status = response.status_code
        reason, message = bigquery_error(response)
        if status == 200:
            return None
        if status == 401:
            return ValidationResult("invalid_credentials", "BigQuery refused the service account's token")
        if status == 403 and (reason in ("accessNotConfigured", "SERVICE_DISABLED") or "has not been used" in message):
            return ValidationResult("missing_permissions", f"BigQuery API is disabled in project {project}")
        if status == 403:
            return ValidationResult(
                "missing_permissions", f"cannot list datasets of project {project}: grant {DATA_VIEWER}"
            )
        if status == 404:
            return ValidationResult("missing_permissions", f"project {project} was not found")
        return unexpected("BigQuery", status)

    # -- step 3: a dry-run query of the billing export table (no bytes billed)
    def _dry_run(self, project: str, token: str, table: str | None) -> ValidationResult:
        sql = f"SELECT 1 FROM `{table}` LIMIT 1" if table else "SELECT 1"
        payload = {"configuration": {"dryRun": True, "query": {"query": sql, "useLegacySql": False}}}
        response = self._bigquery("POST", f"/projects/{quote(project, safe=':')}/jobs", token, payload)
        if isinstance(response, ValidationResult):
            return response
        status = response.status_code
        reason, message = bigquery_error(response)
        if status == 200:
            if table:
                return valid("costs", remark=f"billing export table {table} is readable")
            return valid(detail=NO_TABLE)
        if status == 401:
            return ValidationResult("invalid_credentials", "BigQuery refused the service account's token")
        if status == 403 and "bigquery.jobs.create" in message:
            return ValidationResult(
                "missing_permissions", f"cannot run query jobs in project {project}: grant {JOB_USER}"
            )
        if status == 403:
            what = f"cannot read billing export table {table}" if table else "cannot run a query"
            return ValidationResult("missing_permissions", f"{what}: grant {DATA_VIEWER} on its dataset")
        if status == 404 and table:
            return ValidationResult("missing_permissions", f"billing export table {table} was not found")
        if status == 400 and reason == "invalidQuery" and table:
            return ValidationResult("missing_permissions", f"billing export table {table} cannot be queried")
        return unexpected("BigQuery", status)
