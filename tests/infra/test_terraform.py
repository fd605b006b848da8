"""Offline checks of terraform/: formatting, the per-function IAM, schemas, gateway, variables.

terraform init/validate/plan need provider plugins, which cannot be downloaded here; these
checks use `terraform fmt`, `terraform console` (locals and variables evaluate without providers)
and python-hcl2 instead.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra import tf
from tests.infra.expected import (
    BASE_PATH,
    CONSOLE_ROUTES,
    DEPLOY_ENV_KEYS,
    EVENT_FUNCTIONS,
    FUNCTIONS,
    REPO,
    TERRAFORM,
    expected_bindings,
    functions_in_code,
)

EVALUATED = """{
  functions = local.functions, account_ids = local.function_account_ids,
  kms = local.function_kms_roles, dataset = local.function_dataset_roles,
  project = local.function_project_roles, topics = local.function_topic_roles,
  topic_names = local.topics, tables = local.tables, hashes = local.source_hashes,
  in_code = local.functions_in_code, schema_dir = abspath(local.schema_dir),
}"""


@pytest.fixture(scope="module")
def locals_(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return tf.evaluate(EVALUATED, tmp_path_factory.mktemp("tf"))


def test_terraform_fmt_is_clean() -> None:
    terraform = tf.require_terraform()
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        env=tf.terraform_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def test_every_function_in_code_is_in_the_table_and_in_terraform(locals_: dict) -> None:
    in_code = functions_in_code()
    assert in_code, "no functions/*/main.py found"
    assert in_code == sorted(FUNCTIONS), "functions/ and the expected table (tests/infra/expected.py) differ"
    assert sorted(locals_["functions"]) == in_code, "functions/ and local.functions (terraform/locals.tf) differ"
    assert locals_["in_code"] == in_code


def test_function_service_accounts_hold_exactly_the_table_roles(locals_: dict) -> None:
    actual: set[tuple[str, str, str]] = set()
    actual |= {(b["function"], b["role"], "crypto_key") for b in locals_["kms"].values()}
    actual |= {(b["function"], b["role"], "dataset") for b in locals_["dataset"].values()}
    actual |= {(b["function"], b["role"], "project") for b in locals_["project"].values()}
    actual |= {(b["function"], b["role"], f"topic:{b['topic']}") for b in locals_["topics"].values()}
    missing, extra = expected_bindings() - actual, actual - expected_bindings()
    assert not missing and not extra, f"missing grants: {sorted(missing)}; grants beyond the table: {sorted(extra)}"


def test_each_function_has_its_own_valid_service_account(locals_: dict) -> None:
    ids = locals_["account_ids"]
    assert sorted(ids) == sorted(FUNCTIONS)
    assert len(set(ids.values())) == len(ids), "two functions share a service account"
    for account_id in ids.values():
        assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account_id), account_id


# Where each function-SA IAM resource may point, and which local feeds it.
IAM_RESOURCES = {
    ("google_kms_crypto_key_iam_member", "function"): (
        "${local.function_kms_roles}",
        "crypto_key_id",
        "${google_kms_crypto_key.credentials.id}",
    ),
    ("google_bigquery_dataset_iam_member", "function"): (
        "${local.function_dataset_roles}",
        "dataset_id",
        "${google_bigquery_dataset.integrations.dataset_id}",
    ),
    ("google_project_iam_member", "function"): ("${local.function_project_roles}", "project", "${var.project_id}"),
    ("google_pubsub_topic_iam_member", "function"): (
        "${local.function_topic_roles}",
        "topic",
        "${google_pubsub_topic.topic[each.value.topic].id}",
    ),
}
FUNCTION_MEMBER = "serviceAccount:${google_service_account.function[each.value.function].email}"


def test_iam_resources_are_wired_to_the_evaluated_locals() -> None:
    resources = tf.resources()
    for key, (for_each, scope_attr, scope) in IAM_RESOURCES.items():
        body = resources.get(key)
        assert body is not None, f"{key} is missing"
        assert body["for_each"] == for_each, key
        assert body[scope_attr] == scope, key
        assert body["role"] == "${each.value.role}", key
        assert body["member"] == FUNCTION_MEMBER, key
    # No other resource grants anything to a function service account.
    for key, body in resources.items():
        if key in IAM_RESOURCES or key == ("google_cloudfunctions2_function", "function"):
            continue
        assert "google_service_account.function[" not in json.dumps(body), f"{key} grants to a function account"
    # Additive grants only: an authoritative binding/policy would strip other members.
    assert not [k for k in resources if k[0].endswith(("_iam_binding", "_iam_policy"))]
    sa = resources[("google_service_account", "function")]
    assert sa["for_each"] == "${local.functions}"
    assert sa["account_id"] == "${local.function_account_ids[each.key]}"


def test_functions_are_gen2_python311_with_own_account_and_hashed_source() -> None:
    resources = tf.resources()
    fn = resources[("google_cloudfunctions2_function", "function")]
    assert fn["for_each"] == "${local.functions}"
    assert fn["name"] == "${each.key}"
    build = fn["build_config"][0]
    assert build["runtime"] == "python311"
    assert build["entry_point"] == "${each.key}"
    service = fn["service_config"][0]
    assert service["service_account_email"] == "${google_service_account.function[each.key].email}"
    assert service["environment_variables"] == "${local.function_environment}"
    obj = resources[("google_storage_bucket_object", "source")]
    assert "local.source_hashes[each.key]" in obj["name"]
    trigger = fn["dynamic"][0]["event_trigger"]
    assert trigger["for_each"] == '${each.value.trigger == "validation_topic" ? [1] : []}'
    content = trigger["content"][0]
    assert content["retry_policy"] == "RETRY_POLICY_RETRY"
    assert content["pubsub_topic"] == '${google_pubsub_topic.topic["validation"].id}'
    env_local = next(d["locals"][0] for d in [tf.parsed()["functions.tf"]])
    assert set(env_local["function_environment"]) == DEPLOY_ENV_KEYS


def test_only_validator_is_event_triggered(locals_: dict) -> None:
    triggers = {name: f["trigger"] for name, f in locals_["functions"].items()}
    assert {n for n, t in triggers.items() if t != "http"} == EVENT_FUNCTIONS
    assert set(triggers.values()) == {"http", "validation_topic"}


def test_http_functions_are_private() -> None:
    text = "\n".join(p.read_text() for p in TERRAFORM.glob("*.tf"))
    assert not re.search(r'"all(Authenticated)?Users"', text), "a public member is granted somewhere"
    invoker = tf.resources()[("google_cloud_run_v2_service_iam_member", "http_invoker")]
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["for_each"] == "${local.http_invoker_bindings}"
    iam_locals = tf.parsed()["iam.tf"]["locals"][0]
    assert (
        iam_locals["http_invokers"]
        == '${concat(["serviceAccount:${google_service_account.gateway.email}"], var.invoker_members)}'
    )


def test_terraform_reads_the_schema_files_the_store_reads(locals_: dict) -> None:
    from shared.adapters import bigquery_store

    schema_dir = Path(bigquery_store.SCHEMA_DIR).resolve()
    assert Path(locals_["schema_dir"]).resolve() == (REPO / "configs" / "schemas").resolve() == schema_dir
    files = sorted(p.stem for p in schema_dir.glob("*.json"))
    assert files and sorted(locals_["tables"]) == files
    for table, spec in locals_["tables"].items():
        assert json.loads(spec["schema"]) == bigquery_store.load_schema(table)
        columns = {column["name"] for column in json.loads(spec["schema"])}
        assert set(spec["clustering"]) <= columns, f"{table}: clustering on unknown columns"
        expected = ["api_key_hash"] if table == "org_api_keys" else ["org_slug", "provider"]
        assert spec["clustering"] == expected
    table = tf.resources()[("google_bigquery_table", "table")]
    assert table["for_each"] == "${local.tables}"
    assert table["schema"] == "${each.value.schema}" and table["clustering"] == "${each.value.clustering}"


def test_source_hash_changes_only_for_the_changed_function(tmp_path: Path, locals_: dict) -> None:
    shutil.copytree(REPO / "functions", tmp_path / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    target = sorted(FUNCTIONS)[0]
    (tmp_path / "functions" / target / "main.py").write_text(
        (REPO / "functions" / target / "main.py").read_text() + "\n# changed\n"
    )
    hashes = tf.evaluate("local.source_hashes", tmp_path)
    changed = {name for name in hashes if hashes[name] != locals_["hashes"][name]}
    assert changed == {target}


def test_kms_key_rotates_and_cannot_be_destroyed() -> None:
    key = tf.resources()[("google_kms_crypto_key", "credentials")]
    assert key["rotation_period"] == "${var.kms_rotation_period}"
    assert key["lifecycle"][0]["prevent_destroy"] is True
    assert key["purpose"] == "ENCRYPT_DECRYPT"


@pytest.mark.parametrize(
    "var",
    [
        "kms_rotation_period=7862400s",
        'invoker_members=["allUsers"]',
        "project_id=Bad_Project",
        "log_level=LOUD",
        "expiry_warning_days=0",
        "azure_management_url=http://management.azure.com",
    ],  # fmt: skip
)
def test_variable_validation_rejects(var: str, tmp_path: Path) -> None:
    terraform = tf.require_terraform()
    tf.evaluate("local.topics", tmp_path)  # lays out the copy
    result = subprocess.run(
        [terraform, "console", "-var", "project_id=demo-project", "-var", var],
        input="var.region\n",
        cwd=tmp_path / "terraform",
        env=tf.terraform_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Invalid value for variable" in result.stderr, result.stderr


def _block_names(filename: str, kind: str) -> list[str]:
    return [name for item in tf.parsed()[filename].get(kind, []) for name in item]


def test_variables_are_typed_described_and_alphabetical() -> None:
    names = _block_names("variables.tf", "variable")
    assert names == sorted(names)
    for item in tf.parsed()["variables.tf"]["variable"]:
        for name, body in item.items():
            assert "type" in body and body.get("description"), name


def test_outputs_are_alphabetical_and_complete() -> None:
    names = _block_names("outputs.tf", "output")
    assert names == sorted(names)
    assert {"function_urls", "gateway_url", "validation_topic", "kms_key_name", "api_base_url"} <= set(names)


def test_providers_are_pinned() -> None:
    required = tf.parsed()["versions.tf"]["terraform"][0]["required_providers"][0]
    for provider in ("google", "google-beta"):
        assert required[provider]["source"] == f"hashicorp/{provider}"
        assert re.fullmatch(r"~> \d+\.\d+", required[provider]["version"])


def test_scheduler_publishes_revalidate_to_the_validation_topic() -> None:
    job = tf.resources()[("google_cloud_scheduler_job", "revalidate")]
    target = job["pubsub_target"][0]
    assert target["topic_name"] == '${google_pubsub_topic.topic["validation"].id}'
    assert target["data"] == '${base64encode(jsonencode({"kind": "revalidate"}))}' or "revalidate" in target["data"]


# --- API gateway ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("gw")
    (root / "terraform").mkdir()
    (root / "terraform" / "gateway").symlink_to(TERRAFORM / "gateway")
    urls = ", ".join(f'{name} = "https://{name}.example.run.app"' for name in FUNCTIONS if name not in EVENT_FUNCTIONS)
    rendered = tf.evaluate(
        f'templatefile("${{path.module}}/gateway/openapi2.yaml.tftpl", {{ urls = {{ {urls} }} }})', root
    )
    return yaml.safe_load(rendered)


def _operations(doc: dict) -> set[tuple[str, str]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return {(m, path) for path, ops in doc["paths"].items() for m in ops if m in methods}


def test_gateway_maps_every_public_route_to_its_function(gateway: dict) -> None:
    assert gateway["swagger"] == "2.0"
    expected = {(m, BASE_PATH + p): name for name, (routes, *_rest) in FUNCTIONS.items() for m, p in routes}
    expected |= {(m, p): "console" for m, p in CONSOLE_ROUTES}
    assert _operations(gateway) == set(expected)
    for (method, path), name in expected.items():
        backend = gateway["paths"][path][method]["x-google-backend"]
        url = f"https://{name}.example.run.app"
        assert backend == {**backend, "address": url, "jwt_audience": url, "path_translation": "APPEND_PATH_TO_ADDRESS"}
    for path, ops in gateway["paths"].items():
        assert "options" in ops or path.startswith(("/{org}/settings", "/console/")), f"{path}: no CORS preflight"


def test_gateway_covers_every_operation_of_configs_openapi(gateway: dict) -> None:
    spec_path = REPO / "configs" / "openapi.yaml"
    if not spec_path.exists():
        pytest.skip("configs/openapi.yaml does not exist yet")
    spec = yaml.safe_load(spec_path.read_text())
    prefix = "".join(
        server.get("url", "") for server in spec.get("servers", [])[:1] if server.get("url", "").startswith("/")
    )
    spec_ops = {
        (m, prefix + p)
        for p, ops in spec["paths"].items()
        for m in ops
        if m in {"get", "post", "put", "patch", "delete"}
    }
    missing = spec_ops - _operations(gateway)
    assert not missing, f"in configs/openapi.yaml but not routed by the gateway: {sorted(missing)}"
