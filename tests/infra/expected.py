"""What the infrastructure must say, written down once from the design table.

Every function of functions/ is listed here with exactly the grants it needs; the tests hold
terraform/ and deploy.sh to this table, and fail when a function appears without an entry.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"

ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypter"
DECRYPTER = "roles/cloudkms.cryptoKeyDecrypter"
EDITOR = "roles/bigquery.dataEditor"
VIEWER = "roles/bigquery.dataViewer"
JOB_USER = "roles/bigquery.jobUser"

# name: (public routes, kms role or None, dataset role, topics published to)
FUNCTIONS: dict[str, tuple[list[tuple[str, str]], str | None, str | None, set[str]]] = {
    "setup_integration": ([("post", "/{org}/{provider}/setup")], ENCRYPTER, EDITOR, {"validation", "status_events"}),
    "validate_integration": ([("post", "/{org}/{provider}/validate")], DECRYPTER, EDITOR, {"status_events"}),
    "list_integrations": ([("get", "/{org}")], None, VIEWER, set()),
    "get_integration": ([("get", "/{org}/{provider}")], None, VIEWER, set()),
    "get_setup_form": ([("get", "/{org}/{provider}/setup")], None, VIEWER, set()),
    "delete_integration": ([("delete", "/{org}/{provider}")], None, EDITOR, {"status_events"}),
    "rotate_credential": ([("post", "/{org}/{provider}/rotate")], ENCRYPTER, EDITOR, {"validation", "status_events"}),
    "disable_integration": ([("post", "/{org}/{provider}/disable")], None, EDITOR, {"status_events"}),
    "enable_integration": ([("post", "/{org}/{provider}/enable")], None, EDITOR, {"validation", "status_events"}),
    "update_integration": ([("patch", "/{org}/{provider}")], None, EDITOR, {"validation", "status_events"}),
    "list_events": ([("get", "/{org}/{provider}/events")], None, VIEWER, set()),
    "validate_credential": ([], DECRYPTER, EDITOR, {"status_events"}),
    # The settings pages: static files, no data, no key, no topic (so not even bigquery.jobUser).
    "console": ([], None, None, set()),
}
# The console's public routes, outside BASE_PATH (the pages and their files), GET only.
CONSOLE_ROUTES = [
    ("get", "/{org}/settings/integrations"),
    ("get", "/{org}/settings/integrations/{section}"),
    ("get", "/console/{file}"),
]
EVENT_FUNCTIONS = {"validate_credential"}
BASE_PATH = "/api/v1/integrations"

DEPLOY_ENV_KEYS = {
    "AWS_PLATFORM_ROLE_ARN",
    "STORE_BACKEND",
    "KMS_BACKEND",
    "KMS_KEY_NAME",
    "QUEUE_BACKEND",
    "PUBSUB_TOPIC",
    "STATUS_EVENTS_TOPIC",
    "GCP_PROJECT",
    "BQ_DATASET",
    "LOG_LEVEL",
    "CORS_ORIGINS",
    "VALIDATOR_MAX_DELIVERIES",
    "EXPIRY_WARNING_DAYS",
    "AZURE_AUTHORITY_HOST",
    "AZURE_MANAGEMENT_URL",
}


def functions_in_code() -> list[str]:
    return sorted(p.parent.name for p in (REPO / "functions").glob("*/main.py"))


def expected_bindings() -> set[tuple[str, str, str]]:
    """(function, role, scope) for every grant a function's service account must hold."""
    out: set[tuple[str, str, str]] = set()
    for name, (_routes, kms, dataset_role, topics) in FUNCTIONS.items():
        if kms:
            out.add((name, kms, "crypto_key"))
        if dataset_role:
            out.add((name, dataset_role, "dataset"))
            out.add((name, JOB_USER, "project"))
        for topic in topics:
            out.add((name, "roles/pubsub.publisher", f"topic:{topic}"))
    return out
