"""The provider stand-ins and the benchmarks stay in modules a reader can hold (~300 lines)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 300


@pytest.mark.parametrize("package", ["tests/support/provider_servers", "benchmarks"])
def test_every_module_is_short(package: str) -> None:
    modules = sorted((ROOT / package).glob("*.py"))
    assert len(modules) > 1, f"{package} is one module, not a package"
    sizes = {m.name: len(m.read_text().splitlines()) for m in modules}
    assert all(size <= MAX_LINES for size in sizes.values()), sizes
