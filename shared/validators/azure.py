"""Azure service principal (see docs/providers.md): a client-credentials token from Entra ID,
then one Cost Management query for yesterday on `config.scope`, what the cost pipeline reads.

1. `POST {azure_authority_host}/{tenant_id}/oauth2/v2.0/token`, form-encoded, scope
   `{azure_management_url}/.default` (https://management.azure.com/.default by default).
   Entra ID's answer is read by its OAuth `error` field first; the AADSTS code (`error_codes`,
   else the description) only refines the detail, since Microsoft changes them: 7000215 a
   wrong secret (often the Secret ID pasted for the Value), 7000222 an expired secret
   (`credential_expired`), 700016 no such app in the tenant, 90002 no such tenant.
2. `POST {azure_management_url}{scope}/providers/Microsoft.CostManagement/query?api-version=2025-03-01`.
   Valid: costs. 401 / 403 are missing_permissions naming the role to assign on the scope;
   400 AccountCostDisabled is an EA account with cost views off; 429 (about 4 queries per scope
   a minute) is transient, honouring the QPU retry-after header.

Entra ID's and ARM's messages are never copied: they name the app, the tenant, trace ids.
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
from .http import default_is_transient, json_body, parse_duration, request_with_retries

API_VERSION = "2025-03-01"
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A secret's Value: Entra ID issues 40 characters today (older ones vary); printable, no spaces.
SECRET = re.compile(r"[\x21-\x7e]{16,256}")
FIELDS = ("tenant_id", "client_id", "client_secret")
PREFIX = "Invalid API key format"
ROLE = "Cost Management Reader"
# Where Cost Management says how long to wait; the per-scope QPU one first.
RETRY_HEADERS = tuple(
    f"x-ms-ratelimit-microsoft.costmanagement-{kind}-retry-after" for kind in ("qpu", "entity", "tenant", "client")
) + ("retry-after",)

SECRET_ID = (
    "the client secret is a Secret ID, not the secret's Value (AADSTS7000215): copy the Value of a "
    "client secret, shown only when it is created"
)
SECRET_INVALID = (
    "Entra ID refused the client secret (AADSTS7000215): paste the secret's Value, not its Secret ID, "
    "of a secret of this app"
)
SECRET_EXPIRED = (
    "Entra ID says the client secret has expired (AADSTS7000222): create a new client secret and rotate to it"
)
APP_NOT_FOUND = "no application with this client ID in the tenant (AADSTS700016): check client_id and tenant_id"
TENANT_NOT_FOUND = "the tenant was not found (AADSTS90002): check tenant_id, the Directory (tenant) ID"
ACCOUNT_COST_DISABLED = (
    "cost data is turned off for this Enterprise Agreement account: an enterprise administrator must "
    "enable 'AO view charges' (and 'DA view charges' for department scopes) in Cost Management + Billing > Policies"
)


def check_service_principal(credential: Credential) -> dict[str, str]:
    """The parsed principal when each field has the shape Azure issues; errors name the field, never its value."""
    if credential.kind != "azure_service_principal":
        raise InvalidFormatError(f"{PREFIX}: expected a service principal")
    try:
        info = credential.as_service_principal()
    except (ValueError, TypeError):
        raise InvalidFormatError(f"{PREFIX}: not JSON") from None
    if not isinstance(info, dict):
        raise InvalidFormatError(f"{PREFIX}: not a JSON object")
    if set(info) - set(FIELDS):
        raise InvalidFormatError(f"{PREFIX}: unknown field")  # never named: it is request input
    for name in ("tenant_id", "client_id"):
        if not isinstance(info.get(name), str) or not UUID.fullmatch(info[name]):
            raise InvalidFormatError(f"{PREFIX}: {name}")
    if not isinstance(info.get("client_secret"), str) or not SECRET.fullmatch(info["client_secret"]):
        raise InvalidFormatError(f"{PREFIX}: client_secret")
    return info


def oauth_error(response: httpx.Response) -> tuple[str, int | None]:
    """(OAuth `error`, AADSTS code) of an Entra ID error body; the code from `error_codes`, else the description."""
    body = json_body(response)
    if not isinstance(body, dict):
        return "", None
    codes = body.get("error_codes")
    code = codes[0] if isinstance(codes, list) and codes and type(codes[0]) is int else None
    if code is None:
        match = re.search(r"AADSTS(\d{1,9})\b", str(body.get("error_description") or ""))
        code = int(match.group(1)) if match else None
    return str(body.get("error") or ""), code


def token_verdict(status: int, error: str, code: int | None, secret_is_uuid: bool) -> ValidationResult:
    """What Entra ID's refusal says about the principal: the OAuth error decides, the code refines."""
    aadsts = f", AADSTS{code}" if code is not None else ""
    if error == "invalid_client":
        if code == 7000222:
            return ValidationResult("credential_expired", SECRET_EXPIRED)
        if code == 7000215:
            return ValidationResult("invalid_credentials", SECRET_ID if secret_is_uuid else SECRET_INVALID)
        if code == 700016:
            return ValidationResult("invalid_credentials", APP_NOT_FOUND)
        return ValidationResult(
            "invalid_credentials", f"Entra ID refused the client credentials (invalid_client{aadsts})"
        )
    if error == "unauthorized_client":
        if code == 700016:
            return ValidationResult("invalid_credentials", APP_NOT_FOUND)
        return ValidationResult(
            "invalid_credentials",
            f"the app may not get a token with its secret in this tenant (unauthorized_client{aadsts})",
        )
    if error == "invalid_request":
        if code == 90002:
            return ValidationResult("invalid_credentials", TENANT_NOT_FOUND)
        return ValidationResult("invalid_credentials", f"Entra ID refused the token request (invalid_request{aadsts})")
    if error in ("invalid_scope", "invalid_resource"):
        return ValidationResult(
            "missing_permissions", f"Entra ID issues the app no token for Azure Resource Manager ({error}{aadsts})"
        )
    return unexpected("Entra ID", status)


def entra_is_transient(response: httpx.Response) -> bool:
    return default_is_transient(response) or oauth_error(response)[0] == "temporarily_unavailable"


def arm_error(response: httpx.Response) -> str:
    """The `error.code` of an Azure Resource Manager error body, '' when absent."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code") or "") if isinstance(error, dict) else ""


def cost_retry_after(response: httpx.Response) -> float | None:
    """The longest wait Cost Management asks for (QPU, entity, tenant, client or plain retry-after)."""
    waits = [parse_duration(response.headers.get(name)) for name in RETRY_HEADERS]
    known = [w for w in waits if w is not None]
    return max(known) if known else None


def role_to_assign(scope: str) -> str:
    if scope.startswith("/providers/Microsoft.Billing/"):
        return (
            f"the app may not read costs of {scope}: billing scopes take a billing role "
            f"(for example Billing account reader, or EA enrollment reader), not {ROLE}"
        )
    return f"the app may not read costs of {scope}: assign it the {ROLE} role on that scope"


def query_body(now: datetime) -> dict[str, Any]:
    """Yesterday's actual cost, summed: one row at most, whatever the scope."""
    day = (now.astimezone(timezone.utc) - timedelta(days=1)).date().isoformat()
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {"from": f"{day}T00:00:00+00:00", "to": f"{day}T23:59:59+00:00"},
        "dataset": {"granularity": "None", "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}}},
    }


def is_query_result(response: httpx.Response) -> bool:
    body = json_body(response)
    props = body.get("properties") if isinstance(body, dict) else None
    return isinstance(props, dict) and isinstance(props.get("columns"), list) and isinstance(props.get("rows"), list)


class AzureValidator(HttpValidator):
    provider = "Azure"

    def check_format(self, credential: Credential, config: dict[str, Any]) -> None:
        check_service_principal(credential)

    def format_gate(self, credential: Credential, config: dict[str, Any]) -> ValidationResult | None:
        if not isinstance(config.get("scope"), str):  # the registry requires it at setup
            return ValidationResult("missing_permissions", "no Cost Management scope is configured (config.scope)")
        return super().format_gate(credential, config)

    def ask(self, credential: Credential, config: dict[str, Any]) -> ValidationResult:
        info = credential.as_service_principal()  # checked by the gate
        token = self._token(info)
        if isinstance(token, ValidationResult):
            return token
        return self._query(token, config["scope"])

    def management_url(self) -> str:
        return self.settings.azure_management_url.rstrip("/")

    # -- step 1: a client-credentials token from Entra ID
    def _token(self, info: dict[str, str]) -> str | ValidationResult:
        url = f"{self.settings.azure_authority_host.rstrip('/')}/{info['tenant_id']}/oauth2/v2.0/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "scope": self.management_url() + "/.default",
        }
        outcome = request_with_retries(
            self._client, "POST", url, self.settings, headers={"accept": "application/json"},
            provider="Entra ID", form=form, is_transient=entra_is_transient,
        )  # fmt: skip
        if outcome.result is not None:
            return outcome.result
        response = outcome.response
        assert response is not None
        body = json_body(response)
        if response.status_code == 200:
            token = body.get("access_token") if isinstance(body, dict) else None
            return token if isinstance(token, str) and token else unreadable("Entra ID")
        error, code = oauth_error(response)
        return token_verdict(response.status_code, error, code, bool(UUID.fullmatch(info["client_secret"])))

    # -- step 2: one Cost Management query of yesterday on the scope
    def _query(self, token: str, scope: str) -> ValidationResult:
        url = f"{self.management_url()}{scope}/providers/Microsoft.CostManagement/query?api-version={API_VERSION}"
        outcome = request_with_retries(
            self._client, "POST", url, self.settings,
            headers={"authorization": f"Bearer {token}", "accept": "application/json"},
            provider="Azure Cost Management", json_payload=query_body(datetime.now(timezone.utc)),
            retry_after=cost_retry_after,
        )  # fmt: skip
        if outcome.result is not None:
            return outcome.result
        response = outcome.response
        assert response is not None
        status, code = response.status_code, arm_error(response)
        if status == 200:
            return valid("costs") if is_query_result(response) else unreadable("Azure Cost Management")
        if status == 401 and code == "InvalidAuthenticationTokenTenant":
            return ValidationResult(
                "missing_permissions",
                f"{scope} is in another tenant than the app's: use that tenant's tenant_id, "
                f"and assign the app the {ROLE} role on the scope",
            )
        if status in (401, 403):
            return ValidationResult("missing_permissions", role_to_assign(scope))
        if status == 400 and code == "AccountCostDisabled":
            return ValidationResult("missing_permissions", ACCOUNT_COST_DISABLED)
        if status == 404:
            return ValidationResult("missing_permissions", f"the scope {scope} was not found: check config.scope")
        return unexpected("Azure Cost Management", status)
