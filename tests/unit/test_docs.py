"""The project's documents stand alone: nothing points at a file outside the repository, every
relative link resolves, the providers and stand-ins pages cover what the code does, and the
README says what a new user needs about the validation rate limit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from shared.settings import Settings
from shared.validators import VALIDATORS

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Design files that live outside the repository; built from parts so this file does not match itself.
OUTSIDE = re.compile(
    "|".join([r"\.\./" + "shared", *(n + r"\.md" for n in ("PROVIDERS", "ARCHITECTURE", "API", "CONVENTIONS"))])
)


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [line for line in out.splitlines() if line]


def test_nothing_points_at_design_files_outside_the_repository():
    hits = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not hits, "references to files that are not in the repository:\n" + "\n".join(hits)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def _anchors(path: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", path.read_text(), re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves(doc):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(target)
    assert not broken, f"{doc.name}: broken links {broken}"


def test_readme_links_the_docs():
    readme = (ROOT / "README.md").read_text()
    for doc in ("docs/architecture.md", "docs/providers.md"):
        assert f"]({doc})" in readme


def test_providers_page_covers_every_validator_and_manual_entry():
    from shared.registry import get_registry

    text = (ROOT / "docs" / "providers.md").read_text()
    registry = get_registry()
    for provider in registry.available():
        assert f"`{provider.key}`" in text, provider.key
        for spec in provider.config_fields:
            assert f"`{spec.name}`" in text, f"{provider.key} config.{spec.name}"
    for name in VALIDATORS:
        assert f"`{name}.py`" in text, name


def test_providers_page_names_every_setting_and_path_a_check_calls():
    """The settings table of the stand-ins section and the paths the validators call agree with the code."""
    from tests.support.standins import service_settings

    text = (ROOT / "docs" / "providers.md").read_text()

    class Urls:
        openai_url = anthropic_url = gemini_url = deepseek_url = token_url = bigquery_url = "x"
        azure_authority_url = azure_management_url = "x"

    for variable in service_settings(Urls()):  # what the stand-ins print is what the page explains
        assert f"`{variable}`" in text, variable
    for path in (
        "{OPENAI_BASE_URL}/models",
        "{ANTHROPIC_BASE_URL}/v1/models",
        "{GEMINI_BASE_URL}/v1beta/models",
        "{DEEPSEEK_BASE_URL}/models",
        "{DEEPSEEK_BASE_URL}/user/balance",
        "{OPENAI_BASE_URL}/organization/costs",
        "{ANTHROPIC_BASE_URL}/v1/organizations/cost_report",
        "POST {GCP_TOKEN_URI}",
        "/projects/<p>/datasets",
        "/projects/<p>/jobs",
        "POST {AZURE_AUTHORITY_HOST}/<tenant_id>/oauth2/v2.0/token",
        "/providers/Microsoft.CostManagement/query",
    ):
        assert path in text, path
    sources = "\n".join(p.read_text() for p in (ROOT / "shared" / "validators").glob("*.py"))
    for suffix in ('"/models"', '"/v1/models"', '"/v1beta/models"', "/datasets?maxResults=1", "/jobs",
                   '"/user/balance"', '"/organization/costs"', '"/v1/organizations/cost_report"',
                   "/oauth2/v2.0/token", "/providers/Microsoft.CostManagement/query"):  # fmt: skip
        assert suffix in sources, f"the code no longer calls {suffix}: update docs/providers.md"


def test_readme_explains_the_validation_rate_limit():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### The validation rate limit") :]
    section = section[: section.index("\n## ")]
    attempts, seconds = Settings().rate_limit
    assert f"{attempts} validation attempts per provider in any {seconds} seconds" in section
    assert "429" in section and "Retry-After" in section
    for words in ("Why", "What counts", "store", "restart", "instances", "VALIDATION_RATE_LIMIT=100/60 make run"):
        assert words in section, words
    # The quick-start server is started with the loosened limit, so running the session twice works.
    assert (
        "VALIDATION_RATE_LIMIT=100/60 make run"
        in readme[readme.index("## A session with curl") : readme.index("### The validation rate limit")]
    )
