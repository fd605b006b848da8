"""`rotate-key SLUG` and `revoke-key SLUG`: an org's API key can be replaced or withdrawn.

The CLI runs as an operator runs it (a subprocess on the same DATA_DIR); the keys are then
tried the way every request is authenticated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.container import build_service
from shared.domain.errors import UnauthorizedError
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ORG = "acme_corp"


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STORE_", "KMS_", "QUEUE_", "GCP_", "DATA_DIR"))}
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**env, "DATA_DIR": str(data_dir)},
        timeout=120,
    )


def works(data_dir: Path, key: str) -> bool:
    service = build_service(Settings(data_dir=data_dir))
    try:
        return service.orgs.authenticate(key, ORG).org == ORG
    except UnauthorizedError:
        return False
    finally:
        service.store.close()


def test_rotate_key_prints_a_new_key_alone_on_the_last_line_and_refuses_the_old(tmp_path: Path) -> None:
    first = cli(tmp_path, "create-org", ORG).stdout.splitlines()[-1]
    assert works(tmp_path, first)

    done = cli(tmp_path, "rotate-key", ORG)
    assert done.returncode == 0, done.stderr
    second = done.stdout.splitlines()[-1]
    assert second.startswith("itg_") and second.strip() == second and second != first
    assert second not in "\n".join(done.stdout.splitlines()[:-1]) + done.stderr  # printed once
    assert works(tmp_path, second) and not works(tmp_path, first)


def test_revoke_key_leaves_no_working_key_until_rotate_key(tmp_path: Path) -> None:
    key = cli(tmp_path, "create-org", ORG).stdout.splitlines()[-1]
    done = cli(tmp_path, "revoke-key", ORG)
    assert done.returncode == 0, done.stderr
    assert key not in done.stdout + done.stderr and not works(tmp_path, key)
    assert not works(tmp_path, "revoked:") and not works(tmp_path, "")

    fresh = cli(tmp_path, "rotate-key", ORG).stdout.splitlines()[-1]
    assert works(tmp_path, fresh) and not works(tmp_path, key)


@pytest.mark.parametrize("command", ["rotate-key", "revoke-key"])
def test_an_unknown_or_malformed_org_is_refused(tmp_path: Path, command: str) -> None:
    cli(tmp_path, "create-org", ORG)
    done = cli(tmp_path, command, "ghost_org")
    assert done.returncode == 1 and done.stderr.strip() == "error: Organization not found"
    done = cli(tmp_path, command, "Bad-Org!")
    assert done.returncode == 1 and "Organization slug must be" in done.stderr
