"""DATA_DIR is resolved once, at start, to an absolute path; a read never creates a store.

A pipeline calling get_credential from another working directory used to get "not
configured" from a new empty store created on the spot.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.adapters.sqlite_store import MissingStoreError, SqliteStore
from tests.support.provider_servers import openai_key

ROOT = Path(__file__).resolve().parents[2]
ORG = "acme_corp"

PIPELINE = """
import hashlib, os, sys
from shared.settings import get_settings
get_settings()                      # the process starts here...
os.chdir(sys.argv[1])               # ...and the pipeline moves elsewhere before it reads
from shared.pipelines import get_credential
try:
    value = get_credential("acme_corp", "openai", pipeline="openai-costs-daily").value
    print("ok", hashlib.sha256(value.encode()).hexdigest())
except Exception as exc:
    print("refused", type(exc).__name__, getattr(exc, "message", ""))
"""


def run_pipeline(cwd: Path, elsewhere: Path, data_dir: str) -> str:
    env = {**os.environ, "DATA_DIR": data_dir, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PIPELINE, str(elsewhere)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_get_credential_from_another_working_directory(service_env, tmp_path: Path) -> None:
    api_key = service_env.create_org(ORG)
    service = service_env.service
    key = service_env.servers.openai.set(openai_key(), "valid")
    service.setups.setup(service.orgs.authenticate(api_key, ORG), "openai", {"credential": key}, wait=True)
    assert service_env.data_dir == tmp_path / "data"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # DATA_DIR relative to where the process started, the pipeline then in another directory.
    line = run_pipeline(tmp_path, elsewhere, "data")
    assert line == "ok " + hashlib.sha256(key.encode()).hexdigest()
    assert list(elsewhere.iterdir()) == []  # no store was made where the pipeline stood
    assert any(e.actor == "pipeline:openai-costs-daily" for e in service.store.list_events(ORG, "openai", 10))


def test_a_read_of_a_missing_store_names_the_path_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "data"
    line = run_pipeline(tmp_path, tmp_path, str(missing))
    assert line.startswith("refused MissingStoreError")
    assert str(missing / "integrations.db") in line and f"DATA_DIR={missing}" in line
    assert not (tmp_path / "nowhere").exists()


def test_the_sqlite_store_creates_its_file_on_a_write_or_init_only(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "data" / "integrations.db")
    with pytest.raises(MissingStoreError):
        store.get_org("acme_corp")
    with pytest.raises(MissingStoreError):
        store.list_integrations_by_status("active")
    assert not (tmp_path / "data").exists()
    store.init_store()
    assert store.get_org("acme_corp") is None
    assert (tmp_path / "data" / "integrations.db").stat().st_mode & 0o777 == 0o600
    store.close()
