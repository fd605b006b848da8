"""SetupForms: the setup form of every available provider, from the registry alone, held to the
document's SetupForm; unknown and planned providers are 404 unknown_provider."""

from __future__ import annotations

import pytest

from shared.domain.errors import UnknownProviderError
from shared.registry import get_registry, load_registry
from shared.service.requests import Actor
from shared.service.setup_forms import SetupForms, config_schema
from tests.support.openapi import component_errors

ACTOR = Actor(org="acme_corp", key_id="key_1")
PROVIDERS = get_registry().available()


@pytest.fixture
def forms() -> SetupForms:
    return SetupForms(load_registry())


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.key)
def test_every_available_provider_has_a_form_of_the_documented_shape(forms: SetupForms, provider) -> None:
    form = forms.form(ACTOR, provider.key)
    assert component_errors("SetupForm", form) == []
    assert form["provider"] == provider.key and form["display_name"] == provider.display_name
    assert form["credential"]["kind"] == provider.credential
    assert form["config_schema"] == config_schema(provider)
    assert len(form["credential"]["hint"]) >= 20 and all(len(step) >= 10 for step in form["steps"])


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("openai", ["sk-admin-", "costs", "inference"]),
        ("anthropic", ["sk-ant-admin01-", "costs", "inference"]),
        ("gcp", ["service account", "billing export"]),
        ("gemini", ["AIza"]),
        ("deepseek", ["sk-", "balance"]),
        ("slack", ["no credential"]),
    ],
)
def test_the_hint_says_what_to_paste(forms: SetupForms, key: str, says: list[str]) -> None:
    hint = forms.form(ACTOR, key)["credential"]["hint"].lower()
    assert [word for word in says if word.lower() not in hint] == []


def test_saas_forms_take_no_credential_and_the_subscription_config(forms: SetupForms) -> None:
    for provider in get_registry().available("saas"):
        form = forms.form(ACTOR, provider.key)
        assert form["credential"]["kind"] == "none"
        assert form["config_schema"]["required"] == ["plan", "seats", "monthly_cost", "currency", "billing_cycle"]
        assert "USD" in form["config_schema"]["properties"]["currency"]["enum"]


def test_a_form_is_a_fresh_copy(forms: SetupForms) -> None:
    forms.form(ACTOR, "slack")["config_schema"]["properties"].clear()
    assert forms.form(ACTOR, "slack")["config_schema"]["properties"]


def test_unknown_providers(forms: SetupForms) -> None:
    with pytest.raises(UnknownProviderError) as unknown:
        forms.form(ACTOR, "nope")
    assert unknown.value.message == "Unknown provider"
