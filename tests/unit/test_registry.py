"""The provider registry: what is listed, what is planned or unknown, and config validation."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.errors import BadRequestError, UnknownProviderError
from shared.registry import CURRENCIES, get_registry, load_registry

SAAS = ["slack", "github", "notion", "figma", "atlassian", "cursor"]
GOOD_SAAS = {"plan": "Business", "seats": 12, "monthly_cost": 150.5, "currency": "USD", "billing_cycle": "monthly"}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_available_providers_and_categories(registry) -> None:
    by_key = {p.key: p for p in registry.available()}
    assert {"gcp", "openai", "anthropic", "gemini", "deepseek"} <= set(by_key)
    assert by_key["gcp"].category == "cloud" and by_key["gcp"].credential == "service_account"
    for llm in ("openai", "anthropic", "gemini", "deepseek"):
        assert by_key[llm].category == "llm" and by_key[llm].credential == "api_key"
        assert by_key[llm].validator == llm
    saas = [p for p in by_key.values() if p.category == "saas"]
    assert len(saas) >= 5 and all(p.manual and p.validator is None for p in saas)
    assert by_key["aws"].category == "cloud" and by_key["aws"].credential == "aws_role"
    assert by_key["aws"].validator == "aws" and by_key["aws"].revalidate_days == 7
    assert by_key["azure"].credential == "azure_service_principal" and by_key["azure"].expiry_required
    assert [f.name for f in by_key["azure"].config_fields if f.required] == ["scope"]


@pytest.mark.parametrize("category", ["cloud", "llm", "saas"])
def test_category_filter(registry, category: str) -> None:
    listed = registry.available(category)
    assert listed and all(p.category == category for p in listed)


def test_get_registry_is_cached() -> None:
    assert get_registry() is get_registry()


def test_planned_providers_answer_unknown_provider_saying_planned(tmp_path) -> None:
    key = "acme_cloud"
    (tmp_path / "providers.yml").write_text(
        f"providers:\n  {key}: {{display_name: Acme Cloud, category: cloud, status: planned}}\n"
    )
    planned = load_registry(tmp_path / "providers.yml")
    assert planned.available() == []
    with pytest.raises(UnknownProviderError) as caught:
        planned.get(key)
    assert caught.value.status == 404 and caught.value.code == "unknown_provider"
    assert "planned" in caught.value.message and key in caught.value.message


@pytest.mark.parametrize("key", ["nope", "OpenAI", "openai ", "", "x" * 41, "../etc", "<script>", "op\nenai"])
def test_unknown_names(registry, key: str) -> None:
    with pytest.raises(UnknownProviderError) as caught:
        registry.get(key)
    assert caught.value.status == 404
    assert caught.value.message.startswith("Unknown provider")


@pytest.mark.parametrize("key", ["x" * 41, "<script>alert(1)</script>", "op\nenai", "A" * 300])
def test_unknown_names_that_are_not_plain_are_not_echoed(registry, key: str) -> None:
    with pytest.raises(UnknownProviderError) as caught:
        registry.get(key)
    assert key not in caught.value.message


# ---------------------------------------------------------------- SaaS config


@pytest.mark.parametrize("key", SAAS)
def test_valid_saas_config_is_returned_normalised(registry, key: str) -> None:
    assert registry.get(key).validate_config(dict(GOOD_SAAS)) == GOOD_SAAS


@pytest.mark.parametrize(
    "changes",
    [
        {"seats": 0},
        {"monthly_cost": 0},
        {"monthly_cost": 10},
        {"billing_cycle": "annual"},
        {"currency": "EUR"},
    ],
)
def test_valid_saas_edges(registry, changes: dict[str, Any]) -> None:
    assert registry.get("slack").validate_config({**GOOD_SAAS, **changes})["seats"] >= 0


CANARY = "CANARY-7f3a"

BAD_SAAS: list[tuple[str, dict[str, Any], str]] = [
    # (case id, config, field the message must name)
    ("plan missing", {k: v for k, v in GOOD_SAAS.items() if k != "plan"}, "plan"),
    ("plan empty", {**GOOD_SAAS, "plan": ""}, "plan"),
    ("plan not str", {**GOOD_SAAS, "plan": 5}, "plan"),
    ("plan too long", {**GOOD_SAAS, "plan": CANARY * 30}, "plan"),
    ("seats missing", {k: v for k, v in GOOD_SAAS.items() if k != "seats"}, "seats"),
    ("seats negative", {**GOOD_SAAS, "seats": -1}, "seats"),
    ("seats float", {**GOOD_SAAS, "seats": 1.5}, "seats"),
    ("seats string", {**GOOD_SAAS, "seats": "12"}, "seats"),
    ("seats bool", {**GOOD_SAAS, "seats": True}, "seats"),
    ("seats null", {**GOOD_SAAS, "seats": None}, "seats"),
    ("cost missing", {k: v for k, v in GOOD_SAAS.items() if k != "monthly_cost"}, "monthly_cost"),
    ("cost negative", {**GOOD_SAAS, "monthly_cost": -0.01}, "monthly_cost"),
    ("cost string", {**GOOD_SAAS, "monthly_cost": CANARY}, "monthly_cost"),
    ("cost bool", {**GOOD_SAAS, "monthly_cost": False}, "monthly_cost"),
    ("cost list", {**GOOD_SAAS, "monthly_cost": [1]}, "monthly_cost"),
    ("currency missing", {k: v for k, v in GOOD_SAAS.items() if k != "currency"}, "currency"),
    ("currency lower", {**GOOD_SAAS, "currency": "usd"}, "currency"),
    ("currency unknown", {**GOOD_SAAS, "currency": "XYZ"}, "currency"),
    ("currency canary", {**GOOD_SAAS, "currency": CANARY}, "currency"),
    ("currency number", {**GOOD_SAAS, "currency": 840}, "currency"),
    ("cycle missing", {k: v for k, v in GOOD_SAAS.items() if k != "billing_cycle"}, "billing_cycle"),
    ("cycle weekly", {**GOOD_SAAS, "billing_cycle": "weekly"}, "billing_cycle"),
    ("cycle canary", {**GOOD_SAAS, "billing_cycle": CANARY}, "billing_cycle"),
    ("extra field", {**GOOD_SAAS, "discount": 5}, None),  # unknown keys are input: never named
]


@pytest.mark.parametrize("config,field", [c[1:] for c in BAD_SAAS], ids=[c[0] for c in BAD_SAAS])
def test_bad_saas_config_names_the_field_and_never_echoes_input(registry, config: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        registry.get("github").validate_config(config)
    message = caught.value.message
    assert caught.value.status == 400 and caught.value.code == "bad_request"
    assert f"'config.{field}'" in message if field else "Unknown field in 'config'" in message
    assert "discount" not in message and CANARY not in message and "XYZ" not in message and "weekly" not in message


@pytest.mark.parametrize("config", [[], "plan", 5, True])
def test_saas_config_must_be_an_object(registry, config: Any) -> None:
    with pytest.raises(BadRequestError, match="'config' must be an object"):
        registry.get("notion").validate_config(config)


def test_saas_config_none_means_every_field_is_missing(registry) -> None:
    with pytest.raises(BadRequestError, match="is required"):
        registry.get("figma").validate_config(None)


def test_currency_list_is_iso_4217_codes() -> None:
    assert "USD" in CURRENCIES and all(len(c) == 3 and c.isupper() for c in CURRENCIES)


# ---------------------------------------------------------------- provider config fields


def test_openai_config_fields(registry) -> None:
    openai = registry.get("openai")
    good = {"organization": "org-AbC123", "project": "proj_xyz9"}
    assert openai.validate_config(good) == good
    assert openai.validate_config(None) == {} and openai.validate_config({}) == {}


@pytest.mark.parametrize(
    "provider,config,field",
    [
        ("openai", {"organization": "acme"}, "organization"),
        ("openai", {"organization": 5}, "organization"),
        ("openai", {"project": "proj_" + "x" * 65}, "project"),
        ("openai", {"billing_export_table": "a.b.c"}, None),  # unknown to openai: never named
        ("anthropic", {"organization": "org-abc"}, None),
        ("gcp", {"billing_export_table": "not a table"}, "billing_export_table"),
        ("gcp", {"billing_export_table": "Proj.ds.t"}, "billing_export_table"),
        ("gcp", {"billing_export_table": ["my-project.ds.t"]}, "billing_export_table"),
    ],
)
def test_bad_provider_config_names_the_field(registry, provider: str, config: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        registry.get(provider).validate_config(config)
    if field is None:
        assert "Unknown field in 'config'" in caught.value.message
        assert not any(key in caught.value.message for key in config)
    else:
        assert f"'config.{field}'" in caught.value.message
    for value in config.values():
        if isinstance(value, str):
            assert value not in caught.value.message


def test_gcp_billing_export_table(registry) -> None:
    good = {"billing_export_table": "billing-test-4821.billing.gcp_billing_export_v1_0123"}
    assert registry.get("gcp").validate_config(good) == good


def test_provider_config_must_be_an_object(registry) -> None:
    with pytest.raises(BadRequestError, match="'config' must be an object"):
        registry.get("openai").validate_config(["organization"])
