"""`python -m tests.support.standins` as a developer runs it: a subprocess that prints export
lines, answers the service's checks for the test keys it printed, and stops on Ctrl-C
leaving nothing behind (no process, no port, no key file, no env file)."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from shared.domain.models import Credential
from shared.settings import Settings
from shared.validators import get_validator
from tests.support.provider_servers import openai_key
from tests.support.standins import API_KEYS, AZURE_PRINCIPALS, GCP_KEY_FILES, parse_exports

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = (
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
    "GEMINI_BASE_URL",
    "DEEPSEEK_BASE_URL",
    "GCP_TOKEN_URI",
    "BIGQUERY_API_URL",
    "AZURE_AUTHORITY_HOST",
    "AZURE_MANAGEMENT_URL",
)
# What the service's validator must make of each printed credential (scenario -> outcome).
OUTCOMES = {
    "valid": "valid",
    "no_balance": "valid",
    "read_only": "missing_permissions",
    "missing_scope": "missing_permissions",
    "quota": "missing_permissions",
    "unavailable": "provider_unavailable",
    "forbidden": "missing_permissions",
    "billing": "missing_permissions",
    "service_disabled": "missing_permissions",
    "insufficient_balance": "missing_permissions",
    "disabled": "invalid_credentials",
    "no_data_viewer": "missing_permissions",
    "secret_id": "invalid_credentials",
    "secret_expired": "credential_expired",
    "no_role": "missing_permissions",
}
PROVIDER_OF = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "deepseek": "deepseek"}


def _read_until_ready(process: subprocess.Popen, timeout: float = 30.0) -> str:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=deadline - time.monotonic())
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if line.startswith("# Ready."):
            return "".join(seen)
    pytest.fail("the stand-ins did not print '# Ready.'; printed:\n" + "".join(seen))


def _port_open(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname, parts.port)) == 0


@pytest.fixture
def standins(tmp_path):
    env_file = tmp_path / "standins.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.standins", "--env-file", str(env_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield process, env_file
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


@pytest.mark.slow
def test_standins_print_settings_and_keys_answer_the_checks_and_stop_cleanly(standins):
    process, env_file = standins
    printed = _read_until_ready(process)
    exports = parse_exports(printed)

    # The settings that point the service at the stand-ins, all on loopback.
    for name in SETTINGS:
        assert urlsplit(exports[name]).hostname == "127.0.0.1", name
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert parse_exports(env_file.read_text()) == exports

    # A plain request, as curl would make it: the printed key is accepted, another is not.
    with httpx.Client(timeout=5) as client:
        ok = client.get(
            exports["OPENAI_BASE_URL"] + "/models", headers={"authorization": f"Bearer {exports['OPENAI_KEY']}"}
        )
        refused = client.get(
            exports["OPENAI_BASE_URL"] + "/models", headers={"authorization": f"Bearer {openai_key()}"}
        )
    assert ok.status_code == 200 and ok.json()["data"]
    assert refused.status_code == 401

    # The service's own validators, configured only from the printed settings, reach the
    # verdict the printed comment promises for every credential.
    settings = Settings(
        **{name.lower(): exports[name] for name in SETTINGS}, provider_max_attempts=1, provider_timeout_seconds=5
    )
    for variable, server, _, scenario, _ in API_KEYS:
        validator = get_validator(PROVIDER_OF[server], settings)
        result = validator.validate(Credential(secret=exports[variable]), {})
        assert result.outcome == OUTCOMES[scenario], variable
    gcp = get_validator("gcp", settings)
    key_files = [Path(exports[variable]) for variable, _, _ in GCP_KEY_FILES]
    for (variable, scenario, _), path in zip(GCP_KEY_FILES, key_files):
        assert path.stat().st_mode & 0o777 == 0o600
        config = {"billing_export_table": "billing-test-4821.billing.gcp_billing_export_v1_0123AB_CDEF45_6789AB"}
        result = gcp.validate(Credential.service_account(json.loads(path.read_text())), config)
        assert result.outcome == OUTCOMES[scenario], variable
    azure = get_validator("azure", settings)
    assert exports["AZURE_SECRET_EXPIRES"] > time.strftime("%Y-%m-%d")
    for variable, scenario, _ in AZURE_PRINCIPALS:
        principal = Credential.service_principal(json.loads(exports[variable]))
        result = azure.validate(principal, {"scope": exports["AZURE_SCOPE"]})
        assert result.outcome == OUTCOMES[scenario], variable

    # Ctrl-C: exit 0, every port closed, the key files and the env file gone, no traceback.
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    assert "Traceback" not in process.stderr.read()
    assert not any(_port_open(exports[name]) for name in SETTINGS)
    assert not env_file.exists()
    assert not any(path.exists() for path in key_files)
