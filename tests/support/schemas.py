"""`schema_dir` (fixture): a copy of configs/schemas that shared.adapters.rows reads instead,
for tests that change a schema file. The rows module's caches are cleared around the test."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from shared.adapters import rows

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def schema_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    copy = tmp_path / "schemas"
    shutil.copytree(REPO / "configs" / "schemas", copy)
    monkeypatch.setattr(rows, "SCHEMA_DIR", copy)
    rows.forget_schemas()
    yield copy
    rows.forget_schemas()
