"""A frontend's TypeScript client, generated from configs/openapi.yaml with openapi-typescript,
types `config` and event `details` precisely: tests/typescript/client.ts (`i.config?.seats`
narrowed to a SaaS integration, a gcp config's table, each action's details) type-checks under
`tsc --strict`, and stops type-checking when the document's schemas are loosened.

tools/typescript.sh installs the pinned tools from the npm registry into .node-typescript/ on
first use (about 5 s) and reuses them after; a run takes about 2 s.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "typescript.sh"


def check(spec: Path | None = None) -> subprocess.CompletedProcess[str]:
    if shutil.which("npm") is None:
        pytest.fail("Node.js and npm are needed to type-check the generated TypeScript client")
    return subprocess.run(
        ["bash", str(SCRIPT), *([str(spec)] if spec else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=230,
    )


@pytest.mark.timeout(240)
def test_the_generated_client_types_config_and_details() -> None:
    result = check()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "ok, client.ts type-checked" in result.stdout


@pytest.mark.timeout(240)
def test_the_check_fails_when_config_and_details_are_untyped(tmp_path: Path) -> None:
    """What the document said before the per-provider schemas: `config` a bare object, `details` too."""
    spec = yaml.safe_load((ROOT / "configs" / "openapi.yaml").read_text())
    schemas = spec["components"]["schemas"]
    for name, field in (("Integration", "config"), ("Event", "details")):
        del schemas[name]["allOf"]
        schemas[name]["properties"][field] = {"type": ["object", "null"]}
    loose = tmp_path / "openapi.yaml"
    loose.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = check(loose)
    assert result.returncode != 0, result.stdout
    assert "client.ts" in result.stdout and "error TS" in result.stdout, result.stdout[-4000:]
