"""Azure: Entra ID's token endpoint (the client-credentials grant) and Azure Resource Manager's
Cost Management query, with their documented answers and error bodies (see docs/providers.md).

Entra ID (`answer_entra`, `POST /{tenant}/oauth2/v2.0/token`) parses the form as Entra ID does
(grant_type, client_id, client_secret, scope) and refuses like it: an unknown tenant (400
invalid_request, AADSTS90002), an app not in the tenant (400 unauthorized_client, AADSTS700016),
a wrong secret or a Secret ID sent as the secret (401 invalid_client, AADSTS7000215), an expired
secret (401 invalid_client, AADSTS7000222), a scope that is not `<ARM>/.default`. Bodies carry
`error`, `error_description` (starting with the AADSTS code, with trace ids), `error_codes`.

ARM (`answer_arm`, `POST {scope}/providers/Microsoft.CostManagement/query?api-version=...`) checks
the bearer token, the api-version and the query, and answers per the principal's scenario:
  valid, no_role (403 AuthorizationFailed), other_tenant (401 InvalidAuthenticationTokenTenant),
  cost_disabled (400 AccountCostDisabled), scope_not_found (404 SubscriptionNotFound),
  throttled (429 with the QPU retry-after header), throttled_once (429, then valid),
  arm_unavailable (503). A scope other than the principal's is 403 AuthorizationFailed.

Principals are registered by `ProviderServers.azure_principal(scenario)`; its token-stage
scenarios (secret_id, wrong_secret, secret_expired, app_not_found, tenant_not_found,
token_unavailable) shape what is registered, so Entra ID's answer follows from the form.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timezone
from typing import Any

from tests.support.provider_servers.server import Incoming, ProviderServer, Reply

API_VERSIONS = frozenset({"2023-03-01", "2023-11-01", "2024-08-01", "2025-03-01"})
QPU_RETRY_AFTER = "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"
QUERY_SUFFIX = "/providers/Microsoft.CostManagement/query"
TOKEN_STAGE = ("secret_id", "wrong_secret", "secret_expired", "app_not_found", "tenant_not_found", "token_unavailable")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _entra_error(server: ProviderServer, status: int, error: str, code: int, text: str) -> Reply:
    trace, correlation, stamp = str(uuid.uuid4()), str(uuid.uuid4()), _now()
    description = f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}"
    return Reply(
        status,
        {
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{server.url}/error?code={code}",
        },
    )


def register(state: dict[str, Any], scenario: str, scope: str | None = None) -> tuple[dict[str, str], str]:
    """A principal for `scenario`: (credential as a setup takes it, its Cost Management scope)."""
    tenant, client = str(uuid.uuid4()), str(uuid.uuid4())
    secret = secrets.token_urlsafe(30)[:3] + "8Q~" + secrets.token_urlsafe(30)[:34]  # the shape of a Value
    scope = scope or f"/subscriptions/{uuid.uuid4()}"
    tenants = state.setdefault("tenants", {})
    if scenario != "tenant_not_found":
        apps = tenants.setdefault(tenant, {})
        if scenario != "app_not_found":
            apps[client] = {"secrets": {secret: scenario}, "scope": scope}
    sent = secret
    if scenario == "secret_id":
        sent = str(uuid.uuid4())  # the Secret ID column, pasted instead of the Value
    elif scenario == "wrong_secret":
        sent = secrets.token_urlsafe(30)
    return {"tenant_id": tenant, "client_id": client, "client_secret": sent}, scope


def answer_entra(server: ProviderServer, req: Incoming) -> Reply:
    """The v2.0 token endpoint, client-credentials grant only."""
    parts = req.path.split("/")  # ['', tenant, 'oauth2', 'v2.0', 'token']
    if req.method != "POST" or len(parts) != 5 or parts[2:] != ["oauth2", "v2.0", "token"]:
        return Reply(404, {"error": "not_found"})
    if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _entra_error(server, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")  # fmt: skip
    form = req.form()
    for name in ("grant_type", "client_id", "scope"):
        if not form.get(name):
            return _entra_error(server, 400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'.")  # fmt: skip
    if form["grant_type"] != "client_credentials":
        return _entra_error(server, 400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")  # fmt: skip
    tenant, client = parts[1], form["client_id"]
    apps = server.state.get("tenants", {}).get(tenant)
    if apps is None:
        return _entra_error(server, 400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")  # fmt: skip
    app = apps.get(client)
    if app is None:
        return _entra_error(server, 400, "unauthorized_client", 700016, f"Application with identifier '{client}' was not found in the directory '{tenant}'.")  # fmt: skip
    if not form["scope"].endswith("/.default"):
        return _entra_error(server, 400, "invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.")  # fmt: skip
    if form["scope"] != server.state.get("audience", "") + "/.default":
        return _entra_error(server, 400, "invalid_resource", 500011, "The resource principal was not found in the tenant.")  # fmt: skip
    scenario = app["secrets"].get(form.get("client_secret", ""))
    if scenario is None:
        return _entra_error(server, 401, "invalid_client", 7000215, f"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client}'.")  # fmt: skip
    if scenario == "secret_expired":
        return _entra_error(server, 401, "invalid_client", 7000222, f"The provided client secret keys for app '{client}' are expired. Visit the Azure portal to create new keys for your app.")  # fmt: skip
    if scenario == "token_unavailable":
        return _entra_error(server, 503, "temporarily_unavailable", 50001, "The service is temporarily unavailable.")  # fmt: skip
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(32)
    with server._lock:
        server.state.setdefault("tokens", {})[token] = {"tenant": tenant, "client": client, "scenario": scenario, "scope": app["scope"]}  # fmt: skip
    return Reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})


def _arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, headers=headers or {})


def _is_query(body: Any) -> bool:
    period = body.get("timePeriod") if isinstance(body, dict) else None
    dataset = body.get("dataset") if isinstance(body, dict) else None
    return (
        body.get("type") in ("ActualCost", "AmortizedCost", "Usage")
        and (body.get("timeframe") != "Custom" or isinstance(period, dict) and {"from", "to"} <= set(period))
        and isinstance(dataset, dict)
    )


def answer_arm(server: ProviderServer, req: Incoming) -> Reply:
    """Cost Management's query on a scope, behind a bearer token from `answer_entra`."""
    if req.method != "POST" or not req.path.endswith(QUERY_SUFFIX):
        return _arm_error(404, "NotFound", "The requested resource was not found.")
    scope = req.path[: -len(QUERY_SUFFIX)]
    version = (req.query.get("api-version") or [""])[0]
    if not version:
        return _arm_error(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")  # fmt: skip
    if version not in API_VERSIONS:
        return _arm_error(400, "InvalidApiVersionParameter", f"The api-version '{version}' is invalid.")
    auth = req.headers.get("authorization", "")
    principal = server.state.get("tokens", {}).get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
    if principal is None:
        return _arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
    try:
        body = req.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not _is_query(body):
        return _arm_error(400, "BadRequest", "Invalid query definition: the query body is malformed.")
    server.state.setdefault("queries", []).append((scope, body))
    scenario, client = principal["scenario"], principal["client"]
    if scenario == "other_tenant":
        return _arm_error(401, "InvalidAuthenticationTokenTenant", f"The access token is from the wrong issuer 'https://sts.windows.net/{principal['tenant']}/'. It must match the tenant associated with this subscription.")  # fmt: skip
    if scenario == "no_role" or scope != principal["scope"]:
        return _arm_error(403, "AuthorizationFailed", f"The client '{client}' with object id '{client}' does not have authorization to perform action 'Microsoft.CostManagement/query/action' over scope '{scope}' or the scope is invalid.")  # fmt: skip
    if scenario == "cost_disabled":
        return _arm_error(400, "AccountCostDisabled", "Cost management data is disabled for this account: the enrollment's 'AO view charges' setting is off.")  # fmt: skip
    if scenario == "scope_not_found":
        return _arm_error(404, "SubscriptionNotFound", f"The subscription '{scope.rpartition('/')[2]}' could not be found.")  # fmt: skip
    if scenario == "arm_unavailable":
        return _arm_error(503, "ServiceUnavailable", "The service is temporarily unavailable.")
    if scenario in ("throttled", "throttled_once"):
        with server._lock:
            server.calls[client] += 1
            first = server.calls[client] == 1
        if scenario == "throttled" or first:
            return _arm_error(429, "TooManyRequests", "Too many requests. Please retry.", {QPU_RETRY_AFTER: server.retry_after})  # fmt: skip
    return Reply(
        200,
        {
            "id": f"{scope}/providers/Microsoft.CostManagement/query/{uuid.uuid4()}",
            "name": str(uuid.uuid4()),
            "type": "Microsoft.CostManagement/query",
            "location": None,
            "sku": None,
            "eTag": None,
            "properties": {
                "nextLink": None,
                "columns": [{"name": "Cost", "type": "Number"}, {"name": "Currency", "type": "String"}],
                "rows": [[12.34, "USD"]],
            },
        },
    )
