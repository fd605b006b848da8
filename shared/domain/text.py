"""What text the service accepts from a request: valid Unicode, and names a person can read.

JSON may carry escaped lone surrogates ("\\ud800"): Python parses them, then fails to encode
them anywhere later (UTF-8, SQLite, a log line). They are refused when the body is parsed.
"""

from __future__ import annotations

from typing import Any

# Control (Cc), format (Cf: bidi overrides, zero-width characters), surrogates (Cs),
# line and paragraph separators (Zl, Zp): none belongs in a display name or an audit actor.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def printable(text: str) -> bool:
    import unicodedata  # a C module, loaded by the first name checked

    return not any(unicodedata.category(ch) in _UNPRINTABLE for ch in text)


def encodable(value: Any) -> bool:
    """True when every string in a parsed JSON value (keys included) encodes as UTF-8."""
    stack = [value]
    while stack:  # iterative: a deeply nested value must not overflow the interpreter's stack
        item = stack.pop()
        if isinstance(item, str):
            if not _utf8(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
