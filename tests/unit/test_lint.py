"""The lint gate: pyflakes-level mistakes (undefined names, unused imports) and unformatted code
fail the suite (`ruff format .` fixes the latter). The import rules and the cycle check are
tests/unit/test_architecture.py."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_finds_no_mistakes() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.fail("ruff is not installed: it is pinned in requirements-dev.txt (make test installs it)")
    done = subprocess.run(
        [ruff, "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_code_is_formatted() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff is not None, "ruff is not installed: it is pinned in requirements-dev.txt (make test installs it)"
    done = subprocess.run([ruff, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, "run `ruff format .`:\n" + done.stdout + done.stderr
