"""configs/openapi.yaml describes the HTTP contract and the code's shapes; assert_conforms holds answers to it."""

from __future__ import annotations

from pathlib import Path
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from pydantic import SecretStr

from shared.domain.errors import CATALOGUE
from shared.domain.lifecycle import Status
from shared.domain.models import (
    Credential,
    CredentialRef,
    Event,
    Integration,
    Rotation,
)
from shared.registry import CATEGORIES, CURRENCIES, get_registry, saas_config_model
from shared.service.requests import Actor
from shared.service.setup_forms import SetupForms
from shared.service.views import event_view, integration_view, not_configured_view
from tests.support import openapi
from tests.support.openapi import assert_conforms, component_errors

BASE = "/api/v1/integrations"

# The endpoint table (docs/architecture.md): (method, path under the base) -> operationId (the function's name).
ENDPOINTS: dict[tuple[str, str], str] = {
    ("POST", "/{org}/{provider}/setup"): "setup_integration",
    ("GET", "/{org}/{provider}/setup"): "get_setup_form",
    ("POST", "/{org}/{provider}/validate"): "validate_integration",
    ("GET", "/{org}"): "list_integrations",
    ("GET", "/{org}/{provider}"): "get_integration",
    ("DELETE", "/{org}/{provider}"): "delete_integration",
    ("POST", "/{org}/{provider}/rotate"): "rotate_credential",
    ("POST", "/{org}/{provider}/disable"): "disable_integration",
    ("POST", "/{org}/{provider}/enable"): "enable_integration",
    ("PATCH", "/{org}/{provider}"): "update_integration",
    ("GET", "/{org}/{provider}/events"): "list_events",
}

# operationId -> status -> the error codes that status may carry (success statuses: empty set).
COMMON = {400: {"bad_request"}, 401: {"unauthorized"}, 403: {"forbidden"}, 500: {"internal"}}
BOTH_404 = {404: {"unknown_provider", "not_configured"}}
BODY = {413: {"payload_too_large"}, 415: {"unsupported_media_type"}}
EXPECTED_RESPONSES: dict[str, dict[int, set[str]]] = {
    "setup_integration": {
        200: set(),
        202: set(),
        **COMMON,
        400: {"bad_request", "invalid_format"},
        404: {"unknown_provider"},
        409: {"invalid_transition"},
        **BODY,
        429: {"rate_limited"},
        502: {"encryption_failed"},
        503: {"provider_unavailable"},
    },
    "validate_integration": {
        200: set(),
        **COMMON,
        **BOTH_404,
        409: {"invalid_transition"},
        429: {"rate_limited"},
        503: {"provider_unavailable"},
    },
    "list_integrations": {200: set(), **COMMON},
    "get_setup_form": {200: set(), **COMMON, 404: {"unknown_provider"}, 503: {"provider_unavailable"}},
    "get_integration": {200: set(), **COMMON, **BOTH_404},
    "delete_integration": {204: set(), **COMMON, **BOTH_404},
    "rotate_credential": {
        200: set(),
        202: set(),
        **COMMON,
        400: {"bad_request", "invalid_format"},
        **BOTH_404,
        409: {"invalid_transition"},
        **BODY,
        429: {"rate_limited"},
        502: {"encryption_failed"},
        503: {"provider_unavailable"},
    },
    "disable_integration": {200: set(), **COMMON, **BOTH_404, 409: {"invalid_transition"}},
    "enable_integration": {202: set(), **COMMON, **BOTH_404, 409: {"invalid_transition"}, 429: {"rate_limited"}},
    "update_integration": {200: set(), **COMMON, **BOTH_404, **BODY, 429: {"rate_limited"}},
    "list_events": {200: set(), **COMMON, 404: {"unknown_provider"}},
}
# Catalogue codes whose message says which field / provider / status: no fixed text.
VARIABLE_MESSAGES = {"bad_request", "unknown_provider", "invalid_transition", "credential_not_usable"}
EVENT_ACTIONS = {
    "setup",
    "rotate",
    "validate",
    "revalidate",
    "disable",
    "enable",
    "edit",
    "delete",
    "decrypt",
    "status_change",
    "expiry_warning",
}

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def schema(name: str) -> dict[str, Any]:
    return openapi.spec()["components"]["schemas"][name]


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = openapi._at(node["$ref"][1:])
    return node


def consts_in(node: Any, key: str) -> set[str]:
    """Every `const` under a property named `key`, following $refs (what a response pins)."""
    found: set[str] = set()
    node = resolve(node)
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, dict) and "const" in value:
                found.add(value["const"])
            found |= consts_in(value, key)
    elif isinstance(node, list):
        for value in node:
            found |= consts_in(value, key)
    return found


def error_pairs(node: Any) -> list[tuple[str, str | None]]:
    """(code, pinned message or None) for every narrowed Error schema under `node`."""
    node = resolve(node)
    if isinstance(node, dict) and "oneOf" in node:
        return [pair for option in node["oneOf"] for pair in error_pairs(option)]
    codes = consts_in(node, "code")
    messages = consts_in(node, "message")
    assert len(codes) == 1 and len(messages) <= 1, node
    return [(codes.pop(), messages.pop() if messages else None)]


def fingerprint_of(secret: str) -> str:
    return Credential(secret=SecretStr(secret)).fingerprint()


def sample_integrations() -> list[Integration]:
    key = "sk-test-" + secrets.token_urlsafe(24)
    full = fingerprint_of(key)
    cred = CredentialRef(credential_id="c1", version=2, fingerprint=full, hint=f"sk-...{key[-4:]}", created_at=NOW)
    staged = Rotation(
        credential_id="c2",
        version=3,
        status="failed",
        message="API key invalid or expired",
        fingerprint=fingerprint_of(key + "x"),
        hint="sk-...abcd",
        created_at=NOW + timedelta(minutes=1),
    )
    common = {"org": "acme_corp", "created_at": NOW, "updated_at": NOW + timedelta(seconds=5)}
    return [
        Integration(provider="openai", category="llm", name="OpenAI", status=Status.PENDING, credential=cred, **common),
        Integration(
            provider="openai",
            category="llm",
            name="OpenAI prod",
            status=Status.ACTIVE,
            credential=cred,
            rotation=staged,
            config={"organization": "org-abc"},
            last_validated_at=NOW,
            **common,
        ),
        Integration(
            provider="gemini",
            category="llm",
            name="Gemini",
            status=Status.ERROR,
            status_code="missing_permissions",
            status_message="Missing permissions: Generative Language API is disabled in project 123",
            credential=cred,
            last_validated_at=NOW,
            **common,
        ),
        Integration(
            provider="slack",
            category="saas",
            name="Slack",
            status=Status.ACTIVE,
            config={"plan": "Pro", "seats": 12, "monthly_cost": 87.5, "currency": "USD", "billing_cycle": "monthly"},
            **common,
        ),
        Integration(
            provider="anthropic", category="llm", name="Anthropic", status=Status.DISABLED, credential=cred, **common
        ),
        Integration(
            provider="azure",
            category="cloud",
            name="Azure",
            status=Status.EXPIRED,
            status_code="credential_expired",
            status_message="Credential expired: its expiry date, 2026-11-25, has come",
            credential=cred.model_copy(
                update={"hint": "client 00000000-0000-0000-0000-000000000000", "expires_at": NOW.date()}
            ),
            config={"scope": "/subscriptions/00000000-0000-0000-0000-000000000000"},
            capabilities=("costs",),
            **common,
        ),
    ]


def sample_events() -> list[Event]:
    fp = fingerprint_of("sk-test-" + secrets.token_urlsafe(24))
    return [
        Event(
            id="e1",
            org="acme_corp",
            provider="openai",
            at=NOW,
            action="setup",
            actor="key_1",
            outcome="ok",
            fingerprint=fp[:8],
            details={"version": 1},
        ),
        Event(
            id="e2",
            org="acme_corp",
            provider="openai",
            at=NOW,
            action="validate",
            actor="system",
            outcome="invalid_credentials",
            fingerprint=fp[:8],
        ),
        Event(
            id="e3",
            org="acme_corp",
            provider="slack",
            at=NOW,
            action="status_change",
            actor="system",
            outcome="ok",
            details={"from": "pending", "to": "active", "message": None},
        ),
    ]


# --- the document itself -------------------------------------------------------------------


def test_document_is_valid_openapi_3_1():
    document = openapi.spec()
    assert document["openapi"].startswith("3.1.")
    errors = [e.message for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_server_is_the_local_port():
    assert [s["url"] for s in openapi.spec()["servers"]] == ["http://127.0.0.1:8080"]


def test_every_endpoint_of_the_table_and_nothing_else():
    documented = {(op.method, op.template): op.operation_id for op in openapi.operations()}
    assert documented == {(m, BASE + p): op_id for (m, p), op_id in ENDPOINTS.items()}


def test_operation_ids_are_the_function_names_and_unique():
    ids = [op.operation_id for op in openapi.operations()]
    assert sorted(ids) == sorted(ENDPOINTS.values())
    assert len(set(ids)) == len(ids)


def test_every_operation_requires_the_api_key_header():
    document = openapi.spec()
    assert document["components"]["securitySchemes"]["apiKey"] == {
        **document["components"]["securitySchemes"]["apiKey"],
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    for op in openapi.operations():
        assert openapi._at(op.pointer).get("security") == [{"apiKey": []}], op.operation_id


def test_path_parameters():
    params = openapi.spec()["components"]["parameters"]
    org = resolve(params["Org"]["schema"])
    assert org["pattern"] == "^[a-z0-9_]{3,50}$"
    assert params["Provider"]["schema"]["type"] == "string"
    for template, item in openapi.spec()["paths"].items():
        names = {resolve(p)["name"] for p in item["parameters"]}
        assert names == set(re.findall(r"{(\w+)}", template)), template


def test_query_parameters():
    params = openapi.spec()["components"]["parameters"]
    assert params["Limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    assert params["Cursor"]["schema"]["type"] == "string"
    assert params["Wait"]["schema"]["type"] == "boolean"
    assert tuple(resolve(params["Category"]["schema"])["enum"]) == CATEGORIES
    by_id = {op.operation_id: openapi._at(op.pointer) for op in openapi.operations()}
    query = {
        op_id: {resolve(p)["name"] for p in operation.get("parameters", []) if resolve(p)["in"] == "query"}
        for op_id, operation in by_id.items()
    }
    assert query == {
        "setup_integration": {"wait"},
        "rotate_credential": {"wait"},
        "list_integrations": {"category"},
        "list_events": {"limit", "cursor"},
        "validate_integration": set(),
        "get_integration": set(),
        "get_setup_form": set(),
        "delete_integration": set(),
        "disable_integration": set(),
        "enable_integration": set(),
        "update_integration": set(),
    }


def test_request_bodies_only_where_api_md_has_them():
    with_body = {
        op.operation_id: resolve(openapi._at(op.pointer)["requestBody"]["content"]["application/json"]["schema"])
        for op in openapi.operations()
        if "requestBody" in openapi._at(op.pointer)
    }
    assert with_body == {
        "setup_integration": schema("SetupRequest"),
        "rotate_credential": schema("SetupRequest"),
        "update_integration": schema("UpdateRequest"),
    }


@pytest.mark.parametrize("op_id", sorted(EXPECTED_RESPONSES))
def test_every_operation_documents_its_statuses_and_error_codes(op_id):
    op = next(o for o in openapi.operations() if o.operation_id == op_id)
    actual: dict[int, set[str]] = {}
    for key, response in op.responses.items():
        status = int(key)
        content = resolve(response).get("content")
        actual[status] = (
            set() if status < 400 else {code for code, _ in error_pairs(content["application/json"]["schema"])}
        )
        if status < 400:
            continue
        for code, message in error_pairs(content["application/json"]["schema"]):
            assert CATALOGUE[code][0] == status, (op_id, code, status)
            if code in VARIABLE_MESSAGES:
                assert message is None, (op_id, code)
            else:
                assert message == CATALOGUE[code][1], (op_id, code)
    assert actual == EXPECTED_RESPONSES[op_id]


def test_delete_answers_no_body_and_405_carries_allow():
    delete = next(o for o in openapi.operations() if o.operation_id == "delete_integration")
    assert "content" not in delete.responses["204"]
    responses = openapi.spec()["components"]["responses"]
    assert responses["MethodNotAllowed"]["headers"]["Allow"]["required"] is True
    assert error_pairs(responses["MethodNotAllowed"]["content"]["application/json"]["schema"]) == [
        ("method_not_allowed", "Method not allowed")
    ]
    assert error_pairs(responses["NotFound"]["content"]["application/json"]["schema"]) == [("not_found", "Not found")]


# --- schemas against the domain ------------------------------------------------------------


def test_error_code_enum_is_the_catalogue():
    code = resolve(schema("Error")["properties"]["error"]["properties"]["code"])
    assert set(code["enum"]) == set(CATALOGUE)
    assert len(code["enum"]) == len(CATALOGUE)


def test_error_description_tables_the_whole_catalogue():
    description = schema("Error")["description"]
    for code, (http, message) in CATALOGUE.items():
        row = next((line for line in description.splitlines() if line.startswith(f"| `{code}` |")), None)
        assert row is not None, code
        if code not in VARIABLE_MESSAGES:
            assert f"| {message} |" in row, code
        assert str(http) in row, code


def test_status_enum_is_the_lifecycle():
    assert schema("Status")["enum"] == [s.value for s in Status]


def test_integration_properties_are_the_view_keys():
    properties = set(schema("Integration")["properties"])
    assert properties == set(integration_view(sample_integrations()[0]))
    assert properties == set(not_configured_view("acme_corp", "openai", "llm", "OpenAI"))
    assert set(schema("Integration")["required"]) == properties
    credential = integration_view(sample_integrations()[0])["credential"]
    assert set(schema("CredentialSummary")["properties"]) == set(credential)
    rotation = integration_view(sample_integrations()[1])["rotation"]
    assert set(schema("Rotation")["properties"]) == set(rotation)


@pytest.mark.parametrize("index", range(len(sample_integrations())))
def test_integration_views_conform(index):
    view = integration_view(sample_integrations()[index])
    assert component_errors("Integration", view) == []
    assert component_errors("ConfiguredIntegration", view) == []


def test_not_configured_view_is_a_list_entry_only():
    view = not_configured_view("acme_corp", "github", "saas", "GitHub")
    assert component_errors("Integration", view) == []
    assert component_errors("ConfiguredIntegration", view) != []


def test_integration_list_conforms():
    body = {
        "org": "acme_corp",
        "integrations": [integration_view(i) for i in sample_integrations()]
        + [not_configured_view("acme_corp", "github", "saas", "GitHub")],
    }
    assert component_errors("IntegrationList", body) == []


def _view(**changes: Any) -> dict[str, Any]:
    view = integration_view(sample_integrations()[1])
    view.update(changes)
    return view


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(_view(secret="sk-test-plaintext"), id="extra-field"),
        pytest.param(_view(credential={**_view()["credential"], "fingerprint": "a" * 64}), id="full-fingerprint"),
        pytest.param(_view(credential={**_view()["credential"], "ciphertext": "AAAA"}), id="ciphertext"),
        pytest.param(_view(credential={**_view()["credential"], "version": 0}), id="version-0"),
        pytest.param(_view(status="revoked"), id="unknown-status"),
        pytest.param(_view(status_code="teapot"), id="unknown-status-code"),
        pytest.param(_view(rotation={**_view()["rotation"], "status": "active"}), id="rotation-status"),
        pytest.param(_view(config=None), id="configured-without-config"),
        pytest.param(_view(created_at="yesterday"), id="not-a-date-time"),
        pytest.param(_view(category="crm"), id="unknown-category"),
        pytest.param({k: v for k, v in _view().items() if k != "last_validated_at"}, id="missing-field"),
        pytest.param(
            {**not_configured_view("acme_corp", "github", "saas", "GitHub"), "config": {}},
            id="not-configured-with-config",
        ),
    ],
)
def test_integration_schema_rejects(bad):
    assert component_errors("Integration", bad) != []


def test_event_properties_are_the_view_keys():
    views = [event_view(e) for e in sample_events()]
    assert set(schema("Event")["properties"]) == set(views[0])
    assert set(schema("Event")["required"]) == set(views[0])
    assert set(schema("Event")["properties"]["action"]["enum"]) == EVENT_ACTIONS
    for view in views:
        assert component_errors("Event", view) == []
    assert component_errors("EventPage", {"events": views, "next_cursor": "opaque"}) == []
    assert component_errors("EventPage", {"events": [], "next_cursor": None}) == []


@pytest.mark.parametrize(
    "change",
    [{"outcome": "failed"}, {"action": "create"}, {"fingerprint": "0" * 64}, {"org": "acme_corp"}, {"at": None}],
    ids=["outcome", "action", "fingerprint", "extra-field", "at"],
)
def test_event_schema_rejects(change):
    assert component_errors("Event", {**event_view(sample_events()[0]), **change}) != []


def test_saas_config_matches_the_registry():
    SaasConfig = saas_config_model()
    saas = schema("SaasConfig")
    assert set(saas["properties"]) == set(SaasConfig.model_fields)
    assert set(saas["required"]) == {n for n, f in SaasConfig.model_fields.items() if f.is_required()}
    assert set(saas["properties"]["currency"]["enum"]) == CURRENCIES
    good = {"plan": "Team", "seats": 0, "monthly_cost": 0, "currency": "EUR", "billing_cycle": "annual"}
    SaasConfig.model_validate(good)
    assert component_errors("SaasConfig", good) == []
    for bad in (
        {**good, "seats": -1},
        {**good, "monthly_cost": -0.01},
        {**good, "currency": "usd"},
        {**good, "currency": "XXX"},
        {**good, "seats": 10_000_001},
        {**good, "billing_cycle": "weekly"},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "plan"},
    ):
        assert component_errors("SaasConfig", bad) != [], bad


def test_provider_configs_match_the_registry():
    registry = get_registry()
    documented = {"gcp": "GcpConfig", "openai": "OpenAIConfig", "aws": "AwsConfig", "azure": "AzureConfig"}
    for provider in registry.available():
        if provider.manual:
            continue
        fields = {f.name: f.pattern for f in provider.config_fields}
        if provider.key in documented:
            properties = schema(documented[provider.key])["properties"]
            assert {name: p.get("pattern") for name, p in properties.items()} == fields, provider.key
        else:
            assert fields == {}, f"{provider.key} takes config the document does not describe"


# Every action's details as the service writes them (shared/service/: setups, integrations,
# validation, pipelines, audit), and details no action writes.
DETAILS_BY_ACTION: dict[str, list[dict[str, Any]]] = {
    "setup": [{}, {"version": 1}, {"unchanged_credential": True}],
    "rotate": [{"version": 3}],
    "validate": [{}, {"target": "current"}, {"target": "rotation", "detail": "Missing scopes"}, {"retrying": True}],
    "revalidate": [{"target": "current"}, {"target": "current", "capabilities": ["costs"]}],
    "edit": [{"fields": ["name"]}, {"fields": ["config", "name"]}],
    "decrypt": [{}, {"version": 2}],
    "status_change": [
        {"from": "pending", "to": "active", "message": None},
        {"from": "active", "to": "expired", "message": "API key invalid or expired"},
        {"from": "active", "to": "active", "message": "Credential expires soon: on 2026-12-09, in 14 days"},
    ],
    "expiry_warning": [{"expires_at": "2026-12-09", "days_left": 14}],
    "disable": [{}],
    "enable": [{}],
    "delete": [{}],
}
WRONG_DETAILS = [
    ("setup", {"credential": "sk-test-plaintext"}),
    ("setup", {"version": 0}),
    ("rotate", {}),
    ("validate", {"target": "staged"}),
    ("edit", {"fields": ["credential"]}),
    ("edit", {}),
    ("status_change", {"from": "pending", "to": "revoked", "message": None}),
    ("status_change", {"from": "pending", "to": "active"}),
    ("delete", {"version": 1}),
    ("expiry_warning", {}),
    ("expiry_warning", {"expires_at": "2026-12-09", "days_left": 0}),
    ("expiry_warning", {"expires_at": "2026-12-09", "days_left": 3, "secret": "x"}),
    ("decrypt", {"secret": "x"}),
]


def _event(action: str, details: dict[str, Any]) -> dict[str, Any]:
    return {**event_view(sample_events()[0]), "action": action, "details": details}


def test_every_action_has_its_details_schema():
    assert set(DETAILS_BY_ACTION) == EVENT_ACTIONS
    for action, examples in DETAILS_BY_ACTION.items():
        for details in examples:
            assert component_errors("Event", _event(action, details)) == [], (action, details)


@pytest.mark.parametrize(
    ("action", "details"), WRONG_DETAILS, ids=[f"{a}-{i}" for i, (a, _) in enumerate(WRONG_DETAILS)]
)
def test_event_details_schema_rejects(action, details):
    assert component_errors("Event", _event(action, details)) != []


def _configured(provider: str, category: str, config: Any) -> dict[str, Any]:
    return {**_view(), "provider": provider, "category": category, "config": config}


SAAS_ENTRY = {"plan": "Pro", "seats": 12, "monthly_cost": 87.5, "currency": "USD", "billing_cycle": "monthly"}


@pytest.mark.parametrize(
    ("provider", "category", "config"),
    [
        ("slack", "saas", SAAS_ENTRY),
        ("cursor", "saas", SAAS_ENTRY),
        ("gcp", "cloud", {}),
        ("gcp", "cloud", {"billing_export_table": "my-project.billing.gcp_billing_export_v1_0123AB"}),
        ("openai", "llm", {"organization": "org-abc", "project": "proj_abc"}),
        ("deepseek", "llm", {}),
        ("azure", "cloud", {"scope": "/subscriptions/00000000-0000-0000-0000-000000000000"}),
        ("azure", "cloud", {"scope": "/providers/Microsoft.Billing/billingAccounts/1234567/departments/42"}),
    ],
)
def test_integration_config_by_provider_accepts(provider, category, config):
    assert component_errors("Integration", _configured(provider, category, config)) == []


@pytest.mark.parametrize(
    ("provider", "category", "config"),
    [
        ("slack", "saas", {}),
        ("slack", "saas", {**SAAS_ENTRY, "seats": "12"}),
        ("slack", "llm", SAAS_ENTRY),
        ("gcp", "cloud", SAAS_ENTRY),
        ("gcp", "cloud", {"billing_export_table": "not a table"}),
        ("openai", "llm", {"organization": "acme"}),
        ("anthropic", "llm", {"project": "proj_abc"}),
        ("aws", "cloud", {"cur_bucket": "Not A Bucket"}),
        ("azure", "cloud", {}),
        ("azure", "cloud", {"scope": "/subscriptions/not-a-uuid"}),
    ],
)
def test_integration_config_by_provider_rejects(provider, category, config):
    assert component_errors("Integration", _configured(provider, category, config)) != []


@pytest.mark.parametrize(
    "body",
    [
        {"credential": "sk-test-abc", "name": "OpenAI prod"},
        {
            "credential": {"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com"},
            "config": {"billing_export_table": "my-project.billing.gcp_billing_export_v1"},
        },
        {"config": {"plan": "Pro", "seats": 3, "monthly_cost": 30, "currency": "USD", "billing_cycle": "monthly"}},
        {"credential": "sk-test-abc", "config": {}},
        {
            "credential": {"tenant_id": "t", "client_id": "c", "client_secret": "s"},
            "config": {"scope": "/subscriptions/00000000-0000-0000-0000-000000000000"},
            "expires_at": "2027-06-30",
        },
    ],
)
def test_setup_request_accepts(body):
    assert component_errors("SetupRequest", body) == []


@pytest.mark.parametrize(
    "body",
    [
        {"credential": ""},
        {"credential": 42},
        {"credential": "k", "name": ""},
        {"credential": "k", "name": "n" * 101},
        {"credential": "k", "config": []},
        {"credential": "k", "config": {"nonsense": 1}},
        {"credential": "k", "extra": 1},
        {"credential": "k", "expires_at": "30/06/2027"},
        {"credential": "k", "expires_at": 20270630},
    ],
)
def test_setup_request_rejects(body):
    assert component_errors("SetupRequest", body) != []


def test_update_request():
    assert component_errors("UpdateRequest", {"name": "New name"}) == []
    assert component_errors("UpdateRequest", {"config": {"organization": "org-abc"}}) == []
    assert component_errors("UpdateRequest", {"credential": "k"}) != []


# --- assert_conforms ------------------------------------------------------------------------

JSON = {"Content-Type": "application/json"}


def _error(code: str, message: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message or CATALOGUE[code][1]}}


def test_conforms_accepts_documented_answers():
    view = integration_view(sample_integrations()[0])
    assert_conforms("POST", f"{BASE}/acme_corp/openai/setup", 202, view, JSON)
    assert_conforms("post", f"{BASE}/acme_corp/openai/setup?wait=true", 200, view)
    assert_conforms("GET", f"{BASE}/acme_corp/openai", 200, view, {"content-type": "application/json; charset=utf-8"})
    assert_conforms("DELETE", f"{BASE}/acme_corp/openai", 204, None)
    assert_conforms("GET", f"{BASE}/acme_corp?category=llm", 200, {"org": "acme_corp", "integrations": [view]})
    page = {"events": [event_view(e) for e in sample_events()], "next_cursor": None}
    assert_conforms("GET", f"{BASE}/acme_corp/openai/events?limit=2", 200, page)
    form = SetupForms(get_registry()).form(Actor(org="acme_corp", key_id="k1"), "openai")
    assert_conforms("GET", f"{BASE}/acme_corp/openai/setup", 200, form, JSON)
    assert_conforms(
        "GET", f"{BASE}/acme_corp/azure/setup", 404, _error("unknown_provider", "Provider azure is planned")
    )
    assert_conforms("GET", f"{BASE}/acme_corp/openai", 404, _error("not_configured"))
    assert_conforms("GET", f"{BASE}/acme_corp/nope", 404, _error("unknown_provider", "Unknown provider: nope"))
    assert_conforms("POST", f"{BASE}/acme_corp/openai/setup", 400, _error("invalid_format"))
    assert_conforms(
        "POST",
        f"{BASE}/acme_corp/openai/enable",
        409,
        _error("invalid_transition", "Cannot enable an integration whose status is active"),
    )
    assert_conforms(
        "PUT",
        f"{BASE}/acme_corp/openai",
        405,
        _error("method_not_allowed"),
        {**JSON, "Allow": "GET, PATCH, DELETE, OPTIONS"},
    )
    assert_conforms("DELETE", f"{BASE}/acme_corp/openai/setup", 405, _error("method_not_allowed"))
    assert_conforms("GET", "/api/v1/nothing/here", 404, _error("not_found"))
    assert_conforms("GET", f"{BASE}/acme_corp/openai/events/extra", 404, _error("not_found"))


def test_conforms_matches_literal_segments_before_parameters():
    # A provider literally named "events" is still the integration, not the event list.
    assert openapi.match_template(f"{BASE}/acme/events") == f"{BASE}/{{org}}/{{provider}}"
    assert openapi.match_template(f"{BASE}/acme/openai/events") == f"{BASE}/{{org}}/{{provider}}/events"
    assert openapi.match_template(f"{BASE}/acme/openai/setup?wait=true") == f"{BASE}/{{org}}/{{provider}}/setup"
    assert openapi.match_template(f"{BASE}//openai") is None
    assert openapi.match_template(f"{BASE}/acme/openai/") == f"{BASE}/{{org}}/{{provider}}"  # server ignores it
    assert openapi.match_template(f"{BASE}/acme/openai//") is None
    assert openapi.match_template(BASE) is None


def test_conforms_takes_a_cors_preflight_on_a_known_path():
    assert_conforms("OPTIONS", f"{BASE}/acme_corp/openai", 204, None, {"Allow": "DELETE, GET, OPTIONS, PATCH"})
    assert_conforms("OPTIONS", f"{BASE}/acme_corp/openai/setup", 405, _error("method_not_allowed"))
    with pytest.raises(AssertionError, match="misses"):
        assert_conforms("OPTIONS", f"{BASE}/acme_corp/openai/setup", 204, None, {"Allow": "GET, OPTIONS"})
    with pytest.raises(AssertionError, match="no body"):
        assert_conforms("OPTIONS", f"{BASE}/acme_corp", 204, {"x": 1})
    with pytest.raises(AssertionError, match="allows only 404"):
        assert_conforms("OPTIONS", "/elsewhere", 204, None)


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "headers", "complaint"),
    [
        ("GET", f"{BASE}/acme_corp/openai", 418, {}, None, "not documented"),
        ("DELETE", f"{BASE}/acme_corp/openai", 409, _error("invalid_transition", "x"), None, "not documented"),
        ("GET", f"{BASE}/acme_corp/openai", 200, {"org": "acme_corp"}, None, "required property"),
        ("GET", f"{BASE}/acme_corp/openai", 200, None, None, "has none"),
        ("DELETE", f"{BASE}/acme_corp/openai", 204, {"ok": True}, None, "no body is documented"),
        ("GET", f"{BASE}/acme_corp/openai", 401, _error("unauthorized", "Unauthorized"), None, "was expected"),
        ("GET", f"{BASE}/acme_corp/openai", 404, _error("forbidden"), None, "was expected"),
        ("GET", f"{BASE}/acme_corp/openai", 200, "VIEW", {"Content-Type": "text/html"}, "Content-Type"),
        ("PUT", f"{BASE}/acme_corp/openai", 404, _error("not_found"), None, "allows only 405"),
        ("PUT", f"{BASE}/acme_corp/openai", 405, _error("method_not_allowed"), JSON, "Allow is documented as required"),
        ("PUT", f"{BASE}/acme_corp/openai", 405, _error("method_not_allowed"), {**JSON, "Allow": "GET, PUT"}, "misses"),
        ("GET", "/elsewhere", 405, _error("method_not_allowed"), None, "allows only 404"),
        ("GET", "/elsewhere", 404, _error("not_configured"), None, "was expected"),
    ],
)
def test_conforms_rejects(method, path, status, body, headers, complaint):
    if body == "VIEW":
        body = integration_view(sample_integrations()[0])
    with pytest.raises(AssertionError) as caught:
        assert_conforms(method, path, status, body, headers)
    message = str(caught.value)
    assert complaint in message
    assert f"{method} {path} -> {status}" in message


def test_conforms_checks_date_time_formats():
    # The date-time format check needs rfc3339-validator; without it jsonschema skips it silently.
    view = {**integration_view(sample_integrations()[0]), "updated_at": "25/11/2026"}
    with pytest.raises(AssertionError, match="date-time"):
        assert_conforms("GET", f"{BASE}/acme_corp/openai", 200, view)


def test_the_document_has_no_duplicated_key() -> None:
    """YAML keeps the last of two equal keys without a word (a merge can leave one behind);
    openapi-typescript refuses the document, so the spec test refuses it first."""
    import yaml

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        keys = [loader.construct_object(k) for k, _ in node.value]
        assert len(keys) == len(set(keys)), f"duplicated key at {node.start_mark}"
        return yaml.SafeLoader.construct_mapping(loader, node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    yaml.load((Path(__file__).parents[2] / "configs" / "openapi.yaml").read_text(), Strict)  # noqa: S506
