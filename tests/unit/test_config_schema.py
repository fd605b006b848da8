"""The JSON Schema of `config` (the setup form's, built by `setup_forms.config_schema`) and the check
a setup runs (`Provider.validate_config`) cannot drift: on a table of examples, every provider's
schema accepts exactly what its check accepts. And configs/openapi.yaml describes each
provider's config with that same schema (`IntegrationConfig`)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError, validators

from shared.domain.errors import BadRequestError
from shared.registry import Provider, get_registry
from shared.service.setup_forms import config_schema
from tests.support import openapi

PROVIDERS = get_registry().available()
SAAS = {"plan": "Team", "seats": 3, "monthly_cost": 24, "currency": "EUR", "billing_cycle": "annual"}
TABLE = "my-project.billing.gcp_billing_export_v1_0123AB_CDEF45_6789AB"
SUBSCRIPTION = "/subscriptions/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e"

# Configs of every shape: each provider's own, the others', and near misses of each field.
EXAMPLES: list[Any] = [
    {},
    SAAS,
    *({k: v for k, v in SAAS.items() if k != missing} for missing in SAAS),
    {**SAAS, "extra": 1},
    *({**SAAS, "plan": plan} for plan in ("", "x", "x" * 100, "x" * 101, "é" * 100, "\U0001f642" * 100, 5, None)),
    *({**SAAS, "seats": n} for n in (0, 10_000_000, 10_000_001, -1, 3.0, 1.5, True, "3", None, 1e300)),
    *({**SAAS, "monthly_cost": c} for c in (0, 0.0, 150.5, 1e12, 1.0000001e12, -0.01, True, "24", None, [24])),
    *({**SAAS, "currency": c} for c in ("USD", "JPY", "usd", "XXX", "", "USD ", 840, None)),
    *({**SAAS, "billing_cycle": c} for c in ("monthly", "annual", "weekly", "Monthly", "", None)),
    {"billing_export_table": TABLE},
    {"billing_export_table": "abcdef.d.t"},
    {"billing_export_table": TABLE + "\n"},
    {"billing_export_table": "\n" + TABLE},
    {"billing_export_table": "My-project.billing.t"},
    {"billing_export_table": "abc.d.t"},
    {"billing_export_table": "my-project.billing"},
    {"billing_export_table": "my-project.bil ling.t"},
    {"billing_export_table": 5},
    {"billing_export_table": None},
    {"billing_export_table": TABLE, "project": "proj_abc"},
    {"organization": "org-abc"},
    {"project": "proj_abc"},
    {"organization": "org-abc", "project": "proj_abc"},
    {"organization": "org-" + "a" * 64},
    {"organization": "org-" + "a" * 65},
    {"organization": "org-"},
    {"organization": "org_abc"},
    {"organization": "org-abc\n"},
    {"organization": "org-ab c"},
    {"project": "proj-abc"},
    {"project": "proj_\u00e9"},
    {"organization": 5},
    {"organization": None},
    {"organization": ["org-abc"]},
    {"seats": 3},
    {"scope": SUBSCRIPTION},
    {"scope": SUBSCRIPTION.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")},
    {"scope": SUBSCRIPTION + "/resourceGroups/my-rg_1.(x)"},
    {"scope": SUBSCRIPTION + "/resourceGroups/"},
    {"scope": SUBSCRIPTION + "/resourceGroups/" + "r" * 91},
    {"scope": SUBSCRIPTION + "/"},
    {"scope": SUBSCRIPTION + "\n"},
    {"scope": "/subscriptions/0123abcd"},
    {"scope": "subscriptions/" + SUBSCRIPTION.rpartition("/")[2]},
    {"scope": "/providers/Microsoft.Management/managementGroups/finance-mg"},
    {"scope": "/providers/Microsoft.Management/managementGroups/a b"},
    {"scope": "/providers/Microsoft.Billing/billingAccounts/1234567"},
    {"scope": "/providers/Microsoft.Billing/billingAccounts/1234567/departments/42"},
    {"scope": "/providers/Microsoft.Billing/billingAccounts/1234567/enrollmentAccounts/7"},
    {"scope": "/providers/Microsoft.Billing/billingAccounts/1234567/departments/x"},
    {
        "scope": "/providers/Microsoft.Billing/billingAccounts/ab12:cd34_2019-05-31/billingProfiles/AB12-CD34/invoiceSections/EF56-GH78"
    },
    {"scope": "/providers/MicrosoftXBilling/billingAccounts/1234567"},
    {"scope": "/"},
    {"scope": 5},
    {"scope": None},
    {"scope": SUBSCRIPTION, "billing_export_table": TABLE},
]


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any):
    """`pattern` as JSON Schema defines it (ECMA-262, where `$` is the end of the input), which a
    browser's validator applies; Python's `$` also matches before a final newline."""
    if not validator.is_type(instance, "string"):
        return
    python = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    if not re.search(python, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


EcmaValidator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


def accepted_by_check(provider: Provider, config: Any) -> bool:
    try:
        provider.validate_config(config)
    except BadRequestError:
        return False
    return True


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.key)
def test_the_schema_accepts_exactly_what_the_setup_accepts(provider: Provider) -> None:
    schema = config_schema(provider)
    Draft202012Validator.check_schema(schema)
    validator = EcmaValidator(schema)
    disagree = [
        (example, "check" if by_check else "schema")
        for example in EXAMPLES
        if (by_check := accepted_by_check(provider, example)) != validator.is_valid(example)
    ]
    assert disagree == [], f"{provider.key}: (config, the only one accepting it)"
    assert any(accepted_by_check(provider, e) for e in EXAMPLES), "the table holds no valid config of it"
    assert any(not accepted_by_check(provider, e) for e in EXAMPLES)


def test_the_pattern_check_of_the_table_is_ecma() -> None:
    assert EcmaValidator({"pattern": "^a$"}).is_valid("a")
    assert not EcmaValidator({"pattern": "^a$"}).is_valid("a\n")
    assert Draft202012Validator({"pattern": "^a$"}).is_valid("a\n")  # why the table needs it


def test_a_whole_number_of_seats_is_an_integer_as_in_json() -> None:
    slack = get_registry().get("slack")
    assert slack.validate_config({**SAAS, "seats": 3.0})["seats"] == 3
    assert isinstance(slack.validate_config({**SAAS, "seats": 3.0})["seats"], int)


def test_an_unanchored_pattern_is_anchored_as_fullmatch_checks_it() -> None:
    from shared.registry import ConfigField

    provider = Provider("x", "X", "llm", "api_key", config_fields=(ConfigField("region", "[a-z]+"),))
    pattern = config_schema(provider)["properties"]["region"]["pattern"]
    assert EcmaValidator({"pattern": pattern}).is_valid("eu")
    assert not EcmaValidator({"pattern": pattern}).is_valid("eu-1")
    assert not accepted_by_check(provider, {"region": "eu-1"})


# --- the same schemas in configs/openapi.yaml ---------------------------------------------


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = openapi._at(node["$ref"][1:])
    return node


def _meaning(node: Any) -> Any:
    """The schema without its annotations (descriptions, titles), $refs resolved."""
    node = _resolve(node)
    if isinstance(node, dict):
        return {k: _meaning(v) for k, v in node.items() if k not in ("description", "title", "examples")}
    if isinstance(node, list):
        return [_meaning(v) for v in node]
    return node


def _members() -> list[dict[str, Any]]:
    return openapi.spec()["components"]["schemas"]["IntegrationConfig"]["oneOf"]


def _keys(member: dict[str, Any]) -> set[str]:
    provider = member["properties"]["provider"]
    return {provider["const"]} if "const" in provider else set(provider["enum"])


def test_openapi_pairs_every_provider_of_the_registry_with_one_config_schema() -> None:
    listed = [key for member in _members() for key in _keys(member)]
    assert sorted(listed) == sorted(p.key for p in PROVIDERS), "IntegrationConfig lists other providers"


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.key)
def test_openapi_describes_each_config_with_the_form_schema(provider: Provider) -> None:
    member = next(m for m in _members() if provider.key in _keys(m))
    assert member["properties"]["category"] == {"const": provider.category}
    options = member["properties"]["config"]["oneOf"]
    assert {"type": "null"} in options  # not_configured
    [documented] = [o for o in options if o != {"type": "null"}]
    assert _meaning(documented) == _meaning(config_schema(provider))
