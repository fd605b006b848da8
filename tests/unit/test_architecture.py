"""The package structure of docs/architecture.md, enforced: which package may import which, no
import cycle anywhere in shared/ (lazy imports inside functions included), and inside
shared/service/ the collaborators import only those below them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Layers, lowest first: a module imports only from lower layers, or from its own package.
LAYERS: list[tuple[str, ...]] = [
    ("shared.domain", "shared.logs"),
    ("shared.ports", "shared.settings", "shared.registry", "shared.validator_token"),
    ("shared.adapters", "shared.validators", "shared.service"),
    ("shared.container",),
    ("shared.web", "shared.worker", "shared.pipelines", "shared.recovery", "shared.console"),
    ("shared.http_guard",),
    ("shared.server",),
    ("shared.cli",),
]
# Inside shared.service: each collaborator imports only those of a lower rank.
SERVICE_RANKS = {
    "requests": 0,
    "views": 0,
    "verdicts": 0,
    "org_keys": 0,
    "audit": 1,
    "external_ids": 1,
    "aws_setup": 2,
    "writes": 2,
    "credentials": 2,
    "limits": 2,
    "validation": 3,
    "revalidation": 4,
    "messages": 5,
    "orgs": 5,
    "integrations": 5,
    "setups": 5,
    "setup_forms": 5,
    "pipelines": 5,
    "rewrap": 5,
}


def modules() -> dict[str, Path]:
    found = {}
    for path in (ROOT / "shared").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every shared module `name` imports, at the top or inside a function."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("shared")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            if not base.startswith("shared"):
                continue
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


GRAPH = {name: imports(name, path, modules()) for name, path in modules().items()}


def group(name: str) -> tuple[int, str]:
    for rank, packages in enumerate(LAYERS):
        for package in packages:
            if name == package or name.startswith(package + "."):
                return rank, package
    if name == "shared":
        return -1, "shared"
    raise AssertionError(f"{name} is in no layer: add it to LAYERS and to docs/architecture.md")


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_run_down_the_layers(name: str) -> None:
    rank, package = group(name)
    wrong = [m for m in GRAPH[name] if group(m)[1] != package and group(m)[0] >= rank]
    assert wrong == [], f"{name} (layer {rank}) imports {wrong}: see docs/architecture.md"


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if n.startswith("shared.service.")))
def test_service_collaborators_import_only_those_below_them(name: str) -> None:
    own = SERVICE_RANKS[name.rsplit(".", 1)[1]]
    above = [m for m in GRAPH[name] if m.startswith("shared.service.") and SERVICE_RANKS[m.rsplit(".", 1)[1]] >= own]
    assert above == [], f"{name} imports {above}: a collaborator never imports its peers or callers"


def test_no_import_cycle_in_shared() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert cycles == []


def test_the_checker_sees_a_cycle_and_a_lazy_import(tmp_path) -> None:
    """The graph reads imports inside functions too (a lazy import is still a dependency)."""
    assert "shared.container" in GRAPH["shared.web"]  # imported inside handle(), not at the top
    assert "shared.service.validation" in GRAPH["shared.service.setups"]


@pytest.mark.parametrize("path", sorted((ROOT / "functions").glob("*/main.py")), ids=lambda p: p.parent.name)
def test_entry_points_only_hand_over_to_shared_web_or_worker(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"shared.web", "shared.worker", "shared.console", "functions_framework", "pathlib"}, imported
    assert len(path.read_text().splitlines()) <= 15


def test_no_module_is_longer_than_a_reader_can_hold() -> None:
    """The package, the benchmarks and the test support: about 300 lines at most each."""
    paths = [*modules().values(), *(ROOT / "benchmarks").rglob("*.py"), *(ROOT / "tests" / "support").rglob("*.py")]
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in paths}
    assert {name: n for name, n in sizes.items() if n > 330} == {}
