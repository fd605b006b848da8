"""GCP: Google's OAuth token endpoint (the JWT-bearer grant) and the BigQuery REST API,
with Google's documented error shapes (see docs/providers.md).

Per service account (registered by private_key_id, `ProviderServers.gcp_service_account`), one scenario:
  valid, disabled (token 400 invalid_grant), token_unavailable (503), no_list (datasets.list 403),
  bq_disabled (403 SERVICE_DISABLED), no_job_user / no_data_viewer (dry run 403),
  table_missing (dry run 404), bq_unavailable (503), bq_rate_limited (403 rateLimitExceeded).
"""

from __future__ import annotations

import base64
import json
import secrets
import time

from tests.support.provider_servers.server import Incoming, ProviderServer, Reply


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _oauth_error(error: str, description: str, status: int = 400) -> Reply:
    return Reply(status, {"error": error, "error_description": description})


def answer_google_token(server: ProviderServer, req: Incoming) -> Reply:
    """Google's JWT-bearer grant: verifies the RS256 signature against the registered public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    if req.method != "POST" or req.path != "/token":
        return Reply(404, {"error": "not_found"})
    if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _oauth_error("invalid_request", "Invalid Content-Type")
    form = req.form()
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return _oauth_error("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
    try:
        head_b64, claims_b64, sig_b64 = form.get("assertion", "").split(".")
        header, claims = json.loads(_unb64(head_b64)), json.loads(_unb64(claims_b64))
    except ValueError:
        return _oauth_error(
            "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
        )
    account = server.state.get("accounts", {}).get(header.get("kid"))
    if header.get("alg") != "RS256" or account is None:
        return _oauth_error("invalid_grant", "Invalid JWT Signature.")
    try:
        account["public_key"].verify(
            _unb64(sig_b64), f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return _oauth_error("invalid_grant", "Invalid JWT Signature.")
    now = time.time()
    if (
        claims.get("iss") != account["email"]
        or claims.get("aud") != server.url + "/token"
        or not claims.get("scope")
        or not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0))
        or claims["exp"] - claims["iat"] > 3600
    ):
        return _oauth_error(
            "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
        )
    scenario = account["scenario"]
    if scenario == "disabled":
        return _oauth_error("invalid_grant", "Invalid grant: account not found")
    if scenario == "token_unavailable":
        return Reply(503, {"error": "internal_failure", "error_description": "Backend Error"})
    token = "ya29.test-" + secrets.token_urlsafe(24)
    with server._lock:
        server.state.setdefault("tokens", {})[token] = account
    return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


def _bq_error(status: int, reason: str, message: str, rpc_status: str) -> Reply:
    return Reply(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": rpc_status,
            }
        },
    )


def answer_bigquery(server: ProviderServer, req: Incoming) -> Reply:
    """BigQuery REST v2: datasets.list and jobs.insert (dry runs only), behind a bearer token."""
    auth = req.headers.get("authorization", "")
    account = (
        server.state.get("tokens", {}).get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
    )
    if account is None:
        return _bq_error(
            401,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            "UNAUTHENTICATED",
        )
    project, scenario = account["project_id"], account["scenario"]
    parts = req.path.split("/")  # ['', 'bigquery', 'v2', 'projects', P, 'datasets'|'jobs']
    if len(parts) != 6 or parts[1:4] != ["bigquery", "v2", "projects"]:
        return _bq_error(404, "notFound", "Not found: URL " + req.path, "NOT_FOUND")
    if parts[4] != project:
        return _bq_error(
            403,
            "accessDenied",
            f"Access Denied: Project {parts[4]}: User does not have permission",
            "PERMISSION_DENIED",
        )
    if scenario == "bq_unavailable":
        return _bq_error(
            503, "backendError", "Error encountered during execution. Retrying may solve the problem.", "UNAVAILABLE"
        )
    if scenario == "bq_rate_limited":
        return _bq_error(
            403,
            "rateLimitExceeded",
            "Exceeded rate limits: too many api requests per user per method",
            "PERMISSION_DENIED",
        )
    if scenario == "bq_disabled":
        return _bq_error(
            403, "accessNotConfigured",
            f"BigQuery API has not been used in project {project} before or it is disabled.", "PERMISSION_DENIED",
        )  # fmt: skip
    if req.method == "GET" and parts[5] == "datasets":
        if scenario == "no_list":
            return _bq_error(
                403, "accessDenied",
                f"Access Denied: Project {project}: User does not have bigquery.datasets.list permission", "PERMISSION_DENIED",
            )  # fmt: skip
        datasets = [
            {
                "kind": "bigquery#dataset",
                "id": f"{project}:billing",
                "datasetReference": {"datasetId": "billing", "projectId": project},
            }
        ]
        return Reply(200, {"kind": "bigquery#datasetList", "etag": "x", "datasets": datasets})
    if req.method == "POST" and parts[5] == "jobs":
        job = req.json() or {}
        config = job.get("configuration", {})
        if config.get("dryRun") is not True:
            return _bq_error(400, "invalid", "test server: only dry runs are allowed", "INVALID_ARGUMENT")
        query = config.get("query", {}).get("query", "")
        server.state.setdefault("queries", []).append(query)
        if scenario == "no_job_user":
            return _bq_error(
                403, "accessDenied",
                f"Access Denied: Project {project}: User does not have bigquery.jobs.create permission in project {project}.",
                "PERMISSION_DENIED",
            )  # fmt: skip
        table = query.partition("`")[2].partition("`")[0]
        if scenario == "no_data_viewer" and table:
            return _bq_error(
                403, "accessDenied",
                f"Access Denied: Table {table.replace('.', ':', 1)}: User does not have permission to query table {table}.",
                "PERMISSION_DENIED",
            )  # fmt: skip
        if scenario == "table_missing" and table:
            return _bq_error(
                404,
                "notFound",
                f"Not found: Table {table.replace('.', ':', 1)} was not found in location US",
                "NOT_FOUND",
            )
        return Reply(
            200,
            {
                "kind": "bigquery#job",
                "configuration": config,
                "status": {"state": "DONE"},
                "statistics": {
                    "totalBytesProcessed": "0",
                    "query": {"totalBytesProcessed": "0", "statementType": "SELECT"},
                },
            },
        )
    return _bq_error(405, "invalid", "test server: method not supported", "INVALID_ARGUMENT")
