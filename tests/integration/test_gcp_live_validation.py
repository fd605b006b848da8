"""Live GCP validation end to end against bqemulator (BigQuery's REST API) and a local
token endpoint that verifies the JWT's RS256 signature.

`setup(..., wait=True)` (what `POST .../gcp/setup?wait=true` calls) signs a JWT with the
uploaded key, trades it for a token, lists the project's datasets and dry-runs a query
of the billing export table, all with the emulator answering as BigQuery. Only settings
point the validator at the local endpoints (GCP_TOKEN_URI, BIGQUERY_EMULATOR_HOST); the
uploaded key file names Google's.

What the emulator does not do: it accepts any bearer token, so a refused token (401) or a
missing role (403) cannot come from it; those answers are covered by the BigQuery stand-in
in tests/support/provider_servers/gcp.py (tests/unit/validators).
"""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.bqemulator import PROJECT, bq_emulator, new_dataset_name  # noqa: F401 (fixture)

ORG = "acme_corp"


@pytest.fixture
def billing_dataset(bq_emulator: str, service_env) -> Iterator[str]:  # noqa: F811
    """An emulator dataset for the billing export; the validator talks to the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": bq_emulator}
    )
    dataset = new_dataset_name("billing")
    client.create_dataset(f"{PROJECT}.{dataset}")
    client.create_table(
        bigquery.Table(
            f"{PROJECT}.{dataset}.gcp_billing_export_v1_0123AB_CDEF45_6789AB",
            schema=[bigquery.SchemaField("cost", "FLOAT64"), bigquery.SchemaField("currency", "STRING")],
        )
    )
    # No BigQuery stand-in: with BIGQUERY_API_URL empty the validator derives the API root
    # from BIGQUERY_EMULATOR_HOST.
    service_env.set(BIGQUERY_API_URL="", BIGQUERY_EMULATOR_HOST=bq_emulator)
    yield dataset
    client.delete_dataset(f"{PROJECT}.{dataset}", delete_contents=True, not_found_ok=True)
    client.close()


def setup_gcp(service_env, table: str) -> dict:
    service = service_env.service
    actor = service.orgs.authenticate(service_env.create_org(ORG), ORG)
    info = service_env.servers.gcp_service_account("valid", project_id=PROJECT)
    assert info["token_uri"] == service_env.servers.token_url
    return service.setups.setup(
        actor, "gcp", {"credential": info, "config": {"billing_export_table": table}}, wait=True
    )


def test_a_readable_billing_table_makes_the_integration_active(billing_dataset: str, service_env) -> None:
    table = f"{PROJECT}.{billing_dataset}.gcp_billing_export_v1_0123AB_CDEF45_6789AB"

    body = setup_gcp(service_env, table)

    assert (body["status"], body["status_code"]) == ("active", None), body
    assert service_env.servers.google_token.count("/token") == 1, "the signed JWT was traded for a token"
    assert service_env.servers.bigquery.count() == 0, "BigQuery answers came from the emulator"


def test_a_missing_billing_table_is_reported_by_name(billing_dataset: str, service_env) -> None:
    table = f"{PROJECT}.{billing_dataset}.gcp_billing_export_v1_FFFFFF_FFFFFF_FFFFFF"

    body = setup_gcp(service_env, table)

    assert (body["status"], body["status_code"]) == ("error", "missing_permissions"), body
    assert body["status_message"] == f"Missing permissions: billing export table {table} was not found"
    assert service_env.servers.google_token.count("/token") == 1
