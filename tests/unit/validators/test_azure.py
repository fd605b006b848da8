"""Issue 12 items 5 and 6: the Azure service principal's format, fingerprint and hint, and its
validation against local stand-ins that answer like Entra ID and Azure Resource Manager (token
form parsed, their error bodies): every answer ends in its verdict and exact detail."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone

import httpx
import pytest

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.service.requests import parse_credential
from shared.validators.azure import (
    APP_NOT_FOUND,
    SECRET_EXPIRED,
    SECRET_ID,
    SECRET_INVALID,
    TENANT_NOT_FOUND,
    check_service_principal,
    cost_retry_after,
    query_body,
    token_verdict,
)
from tests.support.hostile_provider import HostileProvider

TENANT, CLIENT = "72f988bf-86f1-41af-91ab-2d7cd011db47", "0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"
SECRET = "abc8Q~" + "x1Y2z3" * 5 + "abcdefgh"  # the shape of a secret's Value (40 characters)
GOOD = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET}


def principal(**changes) -> Credential:
    return Credential.service_principal({**GOOD, **changes})


# ---------------------------------------------------------------- format, fingerprint, hint


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tenant_id": "contoso.onmicrosoft.com"}, "tenant_id"),
        ({"tenant_id": TENANT[:-1]}, "tenant_id"),
        ({"tenant_id": 5}, "tenant_id"),
        ({"client_id": TENANT + "0"}, "client_id"),
        ({"client_id": None}, "client_id"),
        ({"client_secret": "short"}, "client_secret"),
        ({"client_secret": "has a space in it, and long enough"}, "client_secret"),
        ({"client_secret": "é" * 40}, "client_secret"),
        ({"client_secret": "x" * 257}, "client_secret"),
        ({"client_secret": ["x" * 40]}, "client_secret"),
        ({"secret": SECRET}, "unknown field"),
    ],
)
def test_a_malformed_principal_is_refused_naming_the_field_never_its_value(changes, field):
    with pytest.raises(InvalidFormatError) as caught:
        check_service_principal(principal(**changes))
    assert caught.value.message == f"Invalid API key format: {field}"
    assert SECRET not in caught.value.message and 'secret"' not in caught.value.message


@pytest.mark.parametrize("missing", ["tenant_id", "client_id", "client_secret"])
def test_every_field_is_required(missing):
    info = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(InvalidFormatError, match=missing):
        check_service_principal(Credential.service_principal(info))


def test_an_api_key_is_not_a_principal():
    with pytest.raises(InvalidFormatError):
        check_service_principal(Credential(secret=json.dumps(GOOD)))


def test_a_well_formed_principal_passes_and_a_secret_id_is_well_formed_too():
    assert check_service_principal(principal()) == GOOD
    check_service_principal(principal(client_secret=str(uuid.uuid4())))  # Entra ID says which (AADSTS7000215)


def test_the_fingerprint_is_of_the_canonical_json_whatever_the_form_or_the_case_of_the_ids():
    as_object = parse_credential("azure_service_principal", GOOD)
    as_string = parse_credential("azure_service_principal", json.dumps(GOOD, indent=2))
    upper = parse_credential(
        "azure_service_principal", {**GOOD, "tenant_id": TENANT.upper(), "client_id": CLIENT.upper()}
    )
    assert as_object.fingerprint() == as_string.fingerprint() == upper.fingerprint()
    canonical = json.dumps(GOOD, sort_keys=True, separators=(",", ":"))
    assert as_object.value == canonical and as_object.kind == "azure_service_principal"
    assert principal(client_secret=SECRET + "x").fingerprint() != as_object.fingerprint()


def test_the_hint_shows_the_client_id_and_nothing_of_the_secret():
    hint = principal().hint()
    assert hint == f"client {CLIENT}"
    assert SECRET[:4] not in hint and SECRET[-4:] not in hint and TENANT not in hint


@pytest.mark.parametrize("raw", [[GOOD], "not json", '["a"]', 42])
def test_a_credential_that_is_no_object_is_an_invalid_format(raw):
    with pytest.raises(InvalidFormatError):
        parse_credential("azure_service_principal", raw)


# ---------------------------------------------------------------- Entra ID's refusals, mapped


@pytest.mark.parametrize(
    ("status", "error", "code", "secret_is_uuid", "outcome", "detail"),
    [
        (401, "invalid_client", 7000215, False, "invalid_credentials", SECRET_INVALID),
        (401, "invalid_client", 7000215, True, "invalid_credentials", SECRET_ID),
        (401, "invalid_client", 7000222, False, "credential_expired", SECRET_EXPIRED),
        (400, "unauthorized_client", 700016, False, "invalid_credentials", APP_NOT_FOUND),
        (400, "invalid_request", 90002, False, "invalid_credentials", TENANT_NOT_FOUND),
        (401, "invalid_client", 9999999, False, "invalid_credentials",
         "Entra ID refused the client credentials (invalid_client, AADSTS9999999)"),
        (401, "invalid_client", None, False, "invalid_credentials",
         "Entra ID refused the client credentials (invalid_client)"),
        # the OAuth error decides; a code only refines: 7000222 elsewhere is no expiry
        (400, "invalid_request", 7000222, False, "invalid_credentials",
         "Entra ID refused the token request (invalid_request, AADSTS7000222)"),
        (400, "unauthorized_client", 7000215, False, "invalid_credentials",
         "the app may not get a token with its secret in this tenant (unauthorized_client, AADSTS7000215)"),
        (400, "invalid_scope", 1002012, False, "missing_permissions",
         "Entra ID issues the app no token for Azure Resource Manager (invalid_scope, AADSTS1002012)"),
        (400, "", 7000215, False, "provider_unavailable", "Entra ID answered HTTP 400 unexpectedly"),
        (418, "teapot", None, False, "provider_unavailable", "Entra ID answered HTTP 418 unexpectedly"),
    ],
)  # fmt: skip
def test_entra_id_refusals_map_on_the_oauth_error_first(status, error, code, secret_is_uuid, outcome, detail):
    result = token_verdict(status, error, code, secret_is_uuid)
    assert (result.outcome, result.detail) == (outcome, detail)


def test_the_qpu_retry_after_header_is_read_and_the_longest_wait_wins():
    qpu = "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"
    assert cost_retry_after(httpx.Response(429, headers={qpu: "3"})) == 3.0
    assert cost_retry_after(httpx.Response(429, headers={qpu: "3", "retry-after": "7"})) == 7.0
    assert cost_retry_after(httpx.Response(429, headers={"retry-after": "2"})) == 2.0
    assert cost_retry_after(httpx.Response(429)) is None


def test_the_query_asks_for_yesterdays_actual_cost_summed():
    body = query_body(datetime(2026, 3, 1, 0, 30, tzinfo=timezone.utc))
    assert body["type"] == "ActualCost" and body["timeframe"] == "Custom"
    assert body["timePeriod"] == {"from": "2026-02-28T00:00:00+00:00", "to": "2026-02-28T23:59:59+00:00"}
    assert body["dataset"] == {"granularity": "None", "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}}}


# ---------------------------------------------------------------- against the stand-ins


def role_on(scope: str) -> str:
    return f"the app may not read costs of {scope}: assign it the Cost Management Reader role on that scope"


# scenario -> (outcome, detail; "{scope}" is the principal's scope)
SCENARIOS = {
    "valid": ("valid", None),
    "throttled_once": ("valid", None),
    "secret_id": ("invalid_credentials", SECRET_ID),
    "wrong_secret": ("invalid_credentials", SECRET_INVALID),
    "secret_expired": ("credential_expired", SECRET_EXPIRED),
    "app_not_found": ("invalid_credentials", APP_NOT_FOUND),
    "tenant_not_found": ("invalid_credentials", TENANT_NOT_FOUND),
    "token_unavailable": ("provider_unavailable", "Entra ID answered HTTP 503"),
    "no_role": ("missing_permissions", role_on("{scope}")),
    "other_tenant": ("missing_permissions", "{scope} is in another tenant than the app's: use that tenant's "
                     "tenant_id, and assign the app the Cost Management Reader role on the scope"),
    "cost_disabled": ("missing_permissions", "cost data is turned off for this Enterprise Agreement account: an "
                      "enterprise administrator must enable 'AO view charges' (and 'DA view charges' for department "
                      "scopes) in Cost Management + Billing > Policies"),
    "scope_not_found": ("missing_permissions", "the scope {scope} was not found: check config.scope"),
    "throttled": ("rate_limited", "Azure Cost Management rate limit reached"),
    "arm_unavailable": ("provider_unavailable", "Azure Cost Management answered HTTP 503"),
}  # fmt: skip


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_answer_of_entra_id_and_arm_ends_in_its_verdict(provider_servers, make_validator, scenario, caplog):
    caplog.set_level(logging.DEBUG)
    credential, scope = provider_servers.azure_principal(scenario)
    result = make_validator("azure").validate(Credential.service_principal(credential), {"scope": scope})
    outcome, detail = SCENARIOS[scenario]
    assert (result.outcome, result.detail) == (outcome, detail and detail.format(scope=scope))
    assert result.capabilities == (("costs",) if outcome == "valid" else ())
    secret = credential["client_secret"]
    assert secret not in (result.detail or "") and secret not in caplog.text
    requests = provider_servers.azure_login.requests + provider_servers.azure_arm.requests
    assert requests and not any(r.secret_in_url for r in requests)


def test_the_token_is_asked_once_and_the_query_goes_to_the_scope(provider_servers, make_validator):
    credential, scope = provider_servers.azure_principal("valid")
    assert (
        make_validator("azure").validate(Credential.service_principal(credential), {"scope": scope}).outcome == "valid"
    )
    [token_call] = provider_servers.azure_login.requests
    assert token_call.path == f"/{credential['tenant_id']}/oauth2/v2.0/token"
    [query] = provider_servers.azure_arm.requests
    assert query.path == f"{scope}/providers/Microsoft.CostManagement/query"
    assert query.query == "api-version=2025-03-01" and "authorization" in query.header_names
    [(asked_scope, body)] = provider_servers.azure_arm.state["queries"]
    assert asked_scope == scope and body["type"] == "ActualCost"


def test_a_scope_the_app_has_no_role_on_names_the_role_and_billing_scopes_a_billing_role(
    provider_servers, make_validator
):
    credential, _ = provider_servers.azure_principal("valid")
    validator = make_validator("azure")
    other = f"/subscriptions/{uuid.uuid4()}/resourceGroups/finance"
    assert validator.validate(Credential.service_principal(credential), {"scope": other}).detail == role_on(other)
    billing = "/providers/Microsoft.Billing/billingAccounts/1234567/departments/42"
    assert validator.validate(Credential.service_principal(credential), {"scope": billing}).detail == (
        f"the app may not read costs of {billing}: billing scopes take a billing role "
        "(for example Billing account reader, or EA enrollment reader), not Cost Management Reader"
    )


def test_a_throttled_query_is_retried_after_the_qpu_wait(provider_servers, make_validator):
    provider_servers.azure_arm.retry_after = "0.05"
    credential, scope = provider_servers.azure_principal("throttled_once")
    assert (
        make_validator("azure").validate(Credential.service_principal(credential), {"scope": scope}).outcome == "valid"
    )
    assert provider_servers.azure_arm.count("/query") == 2 and provider_servers.azure_login.count("/token") == 1


def test_a_stored_principal_without_a_scope_is_missing_permissions_without_a_call(provider_servers, make_validator):
    credential, _ = provider_servers.azure_principal("valid")
    result = make_validator("azure").validate(Credential.service_principal(credential), {})
    assert (result.outcome, result.detail) == (
        "missing_permissions",
        "no Cost Management scope is configured (config.scope)",
    )
    assert provider_servers.azure_login.requests == []


@pytest.mark.parametrize("target", ["token", "query"])
def test_a_huge_answer_from_either_endpoint_is_bounded(provider_servers, make_validator, target):
    with HostileProvider("huge", declare_length=True) as server:
        setting = "azure_authority_host" if target == "token" else "azure_management_url"
        credential, scope = provider_servers.azure_principal("valid")
        if target == "query":  # the token is for the Resource Manager at that URL
            provider_servers.azure_login.state["audience"] = server.url
        result = make_validator("azure", **{setting: server.url}).validate(
            Credential.service_principal(credential), {"scope": scope}
        )
    name = "Entra ID" if target == "token" else "Azure Cost Management"
    assert (result.outcome, result.detail) == ("provider_unavailable", f"{name} sent an answer too large to read")


def test_the_token_and_the_query_share_one_validation_budget(provider_servers, make_validator):
    # The token comes at once; ARM then trickles. The query gets what is left of the
    # validation's time, not a fresh PROVIDER_TIMEOUT_SECONDS (a time bound: elapsed is asserted).
    import time

    with HostileProvider("trickle", interval=0.2) as arm:
        credential, scope = provider_servers.azure_principal("valid")
        provider_servers.azure_login.state["audience"] = arm.url
        validator = make_validator("azure", azure_management_url=arm.url, provider_timeout_seconds=0.8,
                                   provider_max_attempts=5, validation_timeout_seconds=1.0)  # fmt: skip
        started = time.monotonic()
        result = validator.validate(Credential.service_principal(credential), {"scope": scope})
        elapsed = time.monotonic() - started
    assert (result.outcome, result.detail) == ("provider_unavailable", "Azure Cost Management did not answer in time")
    assert provider_servers.azure_login.count("/token") == 1
    assert elapsed < 1.0 + 0.6
