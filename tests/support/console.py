"""The console in a real browser: Debian's Chromium driven by Playwright (no browser download),
axe-core injected from the pinned npm install (tools/axe.sh), screenshots, canary searches."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def browser() -> Iterator[Any]:
    """One Chromium for a test module (a generator for a module-scoped fixture)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()


@functools.lru_cache(maxsize=1)
def axe_script() -> str:
    """The path of axe.min.js (installed on first use by tools/axe.sh)."""
    done = subprocess.run(
        ["bash", str(ROOT / "tools" / "axe.sh")], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    if done.returncode != 0:
        pytest.fail(f"tools/axe.sh failed: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.x A/AA and
    best practices). The page's context must bypass CSP: the script is injected from outside."""
    page.add_script_tag(path=axe_script())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def screenshot_dir(tmp: Path) -> Path:
    """Where screenshots go: CONSOLE_SCREENSHOTS (`make screenshots` sets docs/screenshots), else tmp."""
    target = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp)
    target.mkdir(parents=True, exist_ok=True)
    return target


def secrets_found(page: Any, canaries: list[str]) -> list[str]:
    """Where any canary appears: the markup, a control's value, localStorage or sessionStorage."""
    values = page.evaluate(
        """() => [...document.querySelectorAll('input, textarea, select')].map((e) => e.value)
             .concat(Object.values(localStorage), Object.values(sessionStorage), [document.body.innerText])"""
    )
    found = []
    for canary in canaries:
        if canary in page.content():
            found.append(f"markup holds {canary[:12]}...")
        if any(canary in value for value in values):
            found.append(f"a value or storage holds {canary[:12]}...")
    return found
