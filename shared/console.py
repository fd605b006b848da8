"""The console: the four settings pages, served as static files by the `console` function.

The pages are plain HTML, CSS and ES modules (functions/console/static/, no build step). Every
page route answers the same shell, index.html; its script reads the path to know the org and
the section. The script calls the API on the same origin with the org API key it keeps in the
tab's sessionStorage. This module only serves files: no store, no settings, no cloud library,
so the function's cold start is Flask's and nothing more.

Every answer carries the security headers: a Content-Security-Policy that allows nothing but
this origin (no inline script or style, no frames, no base URL, forms post here only), nosniff,
and no Referer (the page path names the org).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

# /{org}/settings/integrations, then /cloud, /llm or /subscriptions; org slugs as the API takes them.
PAGE = re.compile(r"/(?P<org>[a-z0-9_]{3,50})/settings/integrations(?:/(?P<section>cloud|llm|subscriptions))?/?")
ASSETS = "/console/"  # the pages' own files: /console/app.js, /console/app.css, ...
SECTIONS = ("overview", "cloud", "llm", "subscriptions")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def serves(path: str) -> bool:
    """Whether `path` is the console's (a page or one of its files), for the local dispatcher."""
    return bool(PAGE.fullmatch(path)) or path.startswith(ASSETS)


class Console:
    """The files of one static directory, read once: a request never touches the file system by
    a name it chose (only names listed at start are served)."""

    def __init__(self, static_dir: Path):
        self._files = {
            ASSETS + p.name: (p.read_bytes(), TYPES[p.suffix])
            for p in sorted(static_dir.iterdir())
            if p.is_file() and p.suffix in TYPES
        }
        self._shell = self._files[ASSETS + "index.html"][0]

    def answer(self, method: str, path: str) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, headers) for one request."""
        headers = dict(SECURITY_HEADERS)
        if method not in ("GET", "HEAD"):
            headers.update({"Allow": "GET, HEAD", "Content-Type": "text/plain; charset=utf-8"})
            return 405, b"Method not allowed\n", headers
        if PAGE.fullmatch(path):
            body, kind = self._shell, TYPES[".html"]
        elif path in self._files:
            body, kind = self._files[path]
        else:
            headers["Content-Type"] = "text/plain; charset=utf-8"
            return 404, b"Not found\n", headers
        # no-cache: revalidated on each load, so a deploy is seen at once; the files are small.
        headers.update({"Content-Type": kind, "Cache-Control": "no-cache"})
        return 200, (b"" if method == "HEAD" else body), headers


def page_function(static_dir: Path) -> Callable[[Any], Any]:
    """A functions-framework HTTP function serving the console's files."""
    console = Console(static_dir)

    def console_function(request: Any):
        import flask

        status, body, headers = console.answer(request.method.upper(), request.path)
        return flask.Response(body, status=status, headers=headers)

    console_function.__name__ = "console"
    return console_function
