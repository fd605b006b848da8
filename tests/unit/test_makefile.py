"""The Makefile's install steps, run by the real `make` with a stand-in `python` that records
what it is asked to do (no network): `make run` installs the runtime only, `make test` the
test toolchain, each visibly, and the stamps reinstall exactly when a requirement file changed.
And requirements.txt ships only what the deployed code imports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for python: `-m venv DIR` makes DIR/bin/python (a copy of itself); anything else is logged.
STUB = """#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && echo "venv" >> "$STUB_LOG"; exit 0
fi
echo "$*" >> "$STUB_LOG"
"""

# Every runtime requirement and how the deployed code imports it (a regex of the statement).
IMPORTED_AS = {
    "functions-framework": r"import functions_framework",
    "google-cloud-kms": r"from google\.cloud import kms_v1",
    "google-cloud-bigquery": r"from google\.cloud import bigquery",
    "google-cloud-pubsub": r"from google\.cloud import pubsub_v1",
    "google-crc32c": r"import google_crc32c",
    "google-auth": r"from google\.auth\b",
    "httpx": r"import httpx",
    "pydantic": r"from pydantic import",
    "cryptography": r"from cryptography\b",
    "PyYAML": r"import yaml",
    "boto3": r"import boto3",
}


@pytest.fixture
def project(tmp_path: Path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    stub = tmp_path / "python-stub"
    stub.write_text(STUB)
    stub.chmod(0o755)
    return tmp_path


class Make:
    def __init__(self, directory: Path):
        self.directory = directory
        self.log = directory / "calls.log"
        self.log.touch()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")} | {"STUB_LOG": str(self.log)}

    def __call__(self, target: str) -> tuple[list[str], str]:
        """Run `make target`; return the calls the stand-in python saw, and make's output."""
        before = len(self.log.read_text().splitlines())
        done = subprocess.run(
            ["make", target, f"PYTHON={self.directory / 'python-stub'}"],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return self.log.read_text().splitlines()[before:], done.stdout


def installs(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("-m pip install")]


def test_run_installs_the_runtime_only_and_says_so(project):
    make = Make(project)
    calls, output = make("run")
    assert calls[0] == "venv"
    assert [c.split()[-1] for c in installs(calls)] == ["pip", "requirements.txt"]
    assert calls[-1] == "-m shared.cli serve"
    assert not any("requirements-dev" in c for c in calls)
    # Progress: pip is not silenced, and make says what it installs and why it takes time.
    assert not any(re.search(r"(^|\s)(-q|--quiet)(\s|$)", c) for c in calls)
    assert "Installing the runtime dependencies (requirements.txt)" in output and "minute" in output


def test_test_installs_the_toolchain_on_a_venv_made_by_run(project):
    make = Make(project)
    make("run")
    calls, output = make("test")
    assert installs(calls) == ["-m pip install --disable-pip-version-check -r requirements-dev.txt"]
    assert calls[-1] == "-m pytest"
    assert "Installing the test toolchain" in output and "700 MB" in output
    # Installed once: neither command installs again, and `run` is covered by the dev install.
    assert installs(make("test")[0]) == []
    assert installs(make("run")[0]) == []


def test_test_first_then_run_installs_nothing_more(project):
    make = Make(project)
    calls, _ = make("test")
    assert [c.split()[-1] for c in installs(calls)] == ["pip", "requirements-dev.txt"]
    assert installs(make("run")[0]) == []


def test_a_changed_requirement_file_reinstalls_what_depends_on_it(project):
    make = Make(project)
    make("test")
    stamps = {".venv/.installed-runtime", ".venv/.installed-dev"}

    def changed(name: str) -> None:  # `name` edited after both installs
        now = time.time()
        for path in stamps:
            os.utime(project / path, (now - 100, now - 100))
        for other in ("requirements.txt", "requirements-dev.txt"):
            age = 0 if other == name else 200
            os.utime(project / other, (now - age, now - age))

    changed("requirements.txt")
    assert [c.split()[-1] for c in installs(make("run")[0])] == ["requirements.txt"]
    assert [c.split()[-1] for c in installs(make("test")[0])] == ["requirements-dev.txt"]

    changed("requirements-dev.txt")
    assert installs(make("run")[0]) == []
    assert [c.split()[-1] for c in installs(make("test")[0])] == ["requirements-dev.txt"]


def _requirements(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0])
    return names


def test_runtime_requirements_are_what_the_deployed_code_imports():
    names = _requirements(ROOT / "requirements.txt")
    assert set(names) == set(IMPORTED_AS), "every runtime requirement must be imported by shared/ or functions/"
    sources = "\n".join(p.read_text() for d in ("shared", "functions") for p in (ROOT / d).rglob("*.py"))
    for name in names:
        assert re.search(rf"^\s*{IMPORTED_AS[name]}", sources, re.M), f"{name} is never imported"
    assert "pydantic_settings" not in sources
    assert "requirements.txt" in (ROOT / "requirements-dev.txt").read_text().split("\n", 2)[1]
