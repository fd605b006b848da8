"""Offline helpers over terraform/: HCL parsing (python-hcl2) and `terraform console`.

`terraform console` evaluates expressions without providers when the configuration holds
only locals and variables, so tests run the real Terraform evaluator on locals.tf.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from tests.infra.expected import REPO, TERRAFORM


def terraform_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_CLI_CONFIG_FILE=os.devnull)
    return env


def require_terraform() -> str:
    path = shutil.which("terraform")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("terraform is not on PATH in CI: the offline Terraform checks cannot run")
        pytest.skip("terraform is not on PATH (install it to run the Terraform checks)")
    return path


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


@lru_cache(maxsize=1)
def parsed() -> dict[str, dict[str, Any]]:
    """Every .tf file of terraform/ parsed, keyed by file name, quotes stripped."""
    import hcl2

    out = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as handle:
            out[path.name] = _unquote(hcl2.load(handle))
    return out


def resources() -> dict[tuple[str, str], dict[str, Any]]:
    """(type, name) -> body, over all files."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in parsed().values():
        for item in doc.get("resource", []):
            for rtype, named in item.items():
                for name, body in named.items():
                    out[(rtype, name)] = body
    return out


def evaluate(expression: str, tmp_root: Path) -> Any:
    """Evaluate `expression` over locals.tf + variables.tf with the real terraform, offline."""
    terraform = require_terraform()
    work = tmp_root / "terraform"
    work.mkdir(parents=True, exist_ok=True)
    for name in ("locals.tf", "variables.tf"):
        shutil.copy(TERRAFORM / name, work / name)
    for name in ("configs", "shared", "functions", "requirements.txt"):
        link = tmp_root / name
        if not link.exists():
            link.symlink_to(REPO / name)
    result = subprocess.run(
        [terraform, "console", "-var", "project_id=demo-project"],
        input="jsonencode(" + " ".join(expression.split()) + ")\n",
        cwd=work,
        env=terraform_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    # console reports errors on stderr and may still exit 0.
    assert result.returncode == 0 and "Error" not in result.stderr, result.stderr
    return json.loads(json.loads(result.stdout.strip()))
