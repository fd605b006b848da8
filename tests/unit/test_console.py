"""The console's files and how they are served (shared/console.py): every answer carries the
security headers, only the listed files are served, and the files themselves hold nothing the
Content-Security-Policy would have to allow (no inline script or style, no other origin, no
markup built from strings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.console import PAGE, Console, serves

STATIC = Path(__file__).resolve().parents[2] / "functions" / "console" / "static"
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"


@pytest.fixture(scope="module")
def console() -> Console:
    return Console(STATIC)


@pytest.mark.parametrize("section", ["", "/", "/cloud", "/llm", "/subscriptions", "/llm/"])
def test_every_page_is_the_shell_with_the_security_headers(console: Console, section: str) -> None:
    status, body, headers = console.answer("GET", f"/acme_corp/settings/integrations{section}")
    assert status == 200 and body == (STATIC / "index.html").read_bytes()
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    "path",
    [
        "/console/../configs/providers.yml",
        "/console/%2e%2e/main.py",
        "/console/main.py",
        "/console/",
        "/acme_corp/settings/integrations/aws",
        "/Acme/settings/integrations",
        "/ab/settings/integrations",
    ],
)
def test_anything_else_is_404_with_the_same_headers(console: Console, path: str) -> None:
    status, body, headers = console.answer("GET", path)
    assert status == 404 and b"settings" not in body
    assert headers["Content-Security-Policy"] == CSP and headers["X-Content-Type-Options"] == "nosniff"


def test_only_get_and_head(console: Console) -> None:
    status, _, headers = console.answer("POST", "/acme_corp/settings/integrations")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, body, headers = console.answer("HEAD", "/console/app.js")
    assert status == 200 and body == b"" and headers["Content-Type"].startswith("text/javascript")


def test_the_dispatcher_sends_console_paths_to_the_console_and_nothing_else() -> None:
    assert serves("/acme_corp/settings/integrations/llm") and serves("/console/app.css")
    assert not serves("/api/v1/integrations/acme_corp") and not serves("/acme_corp/settings")
    assert PAGE.fullmatch("/acme_corp/settings/integrations/subscriptions")


def test_the_html_holds_no_inline_script_style_or_handler() -> None:
    html = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/console/' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\sstyle\s*=|<style\b|\son[a-z]+\s*=", html, re.I)


@pytest.mark.parametrize("path", sorted(STATIC.iterdir()), ids=lambda p: p.name)
def test_no_file_names_another_origin(path: Path) -> None:
    text = path.read_text()
    if path.suffix == ".svg":
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", text, re.I), path.name


@pytest.mark.parametrize("path", sorted(STATIC.glob("*.js")), ids=lambda p: p.name)
def test_scripts_never_build_markup_from_strings_or_store_beyond_the_tab(path: Path) -> None:
    text = path.read_text()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
        ".style.",
    ):
        assert sink not in text, f"{path.name} uses {sink}"
    for imported in re.findall(r'from "\./([^"]+)"', text):
        assert (STATIC / imported).is_file(), f"{path.name} imports a missing {imported}"
