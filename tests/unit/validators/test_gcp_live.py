"""Live GCP validation against a local token endpoint (verifies RS256) and BigQuery REST stand-in."""

from __future__ import annotations

import pytest

from shared.domain.models import Credential
from tests.support.provider_servers import private_key_pem, rsa_private_key

TABLE = "billing-test-4821.billing.gcp_billing_export_v1_0123AB_CDEF12_345678"


def sa(info: dict) -> Credential:
    return Credential.service_account(info)


def test_valid_key_with_table(provider_servers, make_validator):
    info = provider_servers.gcp_service_account("valid")
    result = make_validator("gcp").validate(sa(info), {"billing_export_table": TABLE})
    assert result.outcome == "valid"
    assert result.remark == f"billing export table {TABLE} is readable"
    assert provider_servers.google_token.count("/token") == 1
    assert provider_servers.bigquery.count("/datasets") == 1
    assert provider_servers.bigquery.count("/jobs") == 1
    assert provider_servers.bigquery.state["queries"] == [f"SELECT 1 FROM `{TABLE}` LIMIT 1"]


def test_valid_key_without_table_checks_query_jobs(provider_servers, make_validator):
    info = provider_servers.gcp_service_account("valid")
    result = make_validator("gcp").validate(sa(info), {})
    assert result.outcome == "valid" and "no billing export table configured" in result.detail
    assert provider_servers.bigquery.state["queries"] == ["SELECT 1"]


def test_key_signed_by_another_private_key_is_invalid(provider_servers, make_validator):
    info = provider_servers.gcp_service_account("valid")
    forged = {**info, "private_key": private_key_pem(rsa_private_key(1))}
    result = make_validator("gcp").validate(sa(forged), {})
    assert result.outcome == "invalid_credentials"
    assert provider_servers.bigquery.count() == 0


@pytest.mark.parametrize(
    ("scenario", "outcome", "detail"),
    [
        ("disabled", "invalid_credentials", "Google refused the key: it is disabled, deleted or not this account's"),
        (
            "no_list",
            "missing_permissions",
            "cannot list datasets of project billing-test-4821: grant roles/bigquery.dataViewer",
        ),
        ("bq_disabled", "missing_permissions", "BigQuery API is disabled in project billing-test-4821"),
        (
            "no_job_user",
            "missing_permissions",
            "cannot run query jobs in project billing-test-4821: grant roles/bigquery.jobUser",
        ),
        (
            "no_data_viewer",
            "missing_permissions",
            f"cannot read billing export table {TABLE}: grant roles/bigquery.dataViewer on its dataset",
        ),
        ("table_missing", "missing_permissions", f"billing export table {TABLE} was not found"),
    ],
)
def test_answers_map_to_outcomes(provider_servers, make_validator, scenario, outcome, detail):
    info = provider_servers.gcp_service_account(scenario)
    result = make_validator("gcp").validate(sa(info), {"billing_export_table": TABLE})
    assert (result.outcome, result.detail) == (outcome, detail)
    # Permanent answers are asked once.
    assert provider_servers.google_token.count() == 1
    assert all(
        count <= 1 for count in (provider_servers.bigquery.count("/datasets"), provider_servers.bigquery.count("/jobs"))
    )


@pytest.mark.parametrize(
    ("scenario", "outcome", "server"),
    [
        ("token_unavailable", "provider_unavailable", "google_token"),
        ("bq_unavailable", "provider_unavailable", "bigquery"),
        ("bq_rate_limited", "rate_limited", "bigquery"),
    ],
)
def test_transient_failures_are_retried_then_reported(provider_servers, make_validator, scenario, outcome, server):
    info = provider_servers.gcp_service_account(scenario)
    result = make_validator("gcp", provider_max_attempts=3).validate(sa(info), {})
    assert result.outcome == outcome and result.transient
    assert getattr(provider_servers, server).count() == 3


def test_token_uri_from_the_file_is_never_called(provider_servers, make_validator):
    """A key file naming another token endpoint is refused before any call."""
    info = provider_servers.gcp_service_account("valid")
    elsewhere = {**info, "token_uri": provider_servers.openai.url + "/token"}
    result = make_validator("gcp").validate(sa(elsewhere), {})
    assert result.outcome == "invalid_credentials" and result.detail == "Invalid API key format: token_uri"
    assert provider_servers.openai.count() == 0 and provider_servers.google_token.count() == 0


def test_no_secret_in_urls_or_results(provider_servers, make_validator):
    info = provider_servers.gcp_service_account("valid")
    result = make_validator("gcp").validate(sa(info), {"billing_export_table": TABLE})
    pem_line = info["private_key"].splitlines()[2]
    for server in (provider_servers.google_token, provider_servers.bigquery):
        assert not any(r.secret_in_url for r in server.requests)
        assert all(pem_line not in r.path + r.query for r in server.requests)
    assert pem_line not in repr(result) and info["private_key_id"] not in repr(result)


def test_emulator_host_setting_builds_the_rest_url(provider_servers):
    from shared.settings import Settings
    from shared.validators import get_validator

    validator = get_validator("gcp", Settings(bigquery_emulator_host="127.0.0.1:9050"))
    assert validator.bigquery_url() == "http://127.0.0.1:9050/bigquery/v2"
    assert get_validator("gcp", Settings()).bigquery_url() == "https://bigquery.googleapis.com/bigquery/v2"
