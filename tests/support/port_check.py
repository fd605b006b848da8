"""Whether an adapter (or a double) offers every method its port declares, callable as declared.

Python's Protocols are structural and unchecked at run time: this is the check the
contract suites and tests/unit/test_ports.py use instead of `getattr` at the call site.
"""

from __future__ import annotations

import inspect
from typing import Any


def port_methods(port: type) -> dict[str, inspect.Signature]:
    """The public methods a Protocol declares, with their signatures."""
    return {
        name: inspect.signature(fn)
        for name, fn in vars(port).items()
        if inspect.isfunction(fn) and not name.startswith("_")
    }


def mismatches(adapter: Any, port: type) -> list[str]:
    """What keeps `adapter` (an instance or a class) from being called as `port` declares; [] if nothing."""
    cls = adapter if isinstance(adapter, type) else type(adapter)
    problems: list[str] = []
    for name, declared in port_methods(port).items():
        method = inspect.getattr_static(cls, name, None)
        if not callable(method):
            problems.append(f"{cls.__name__}.{name} is missing")
            continue
        offered = inspect.signature(method).parameters
        for param in list(declared.parameters.values())[1:]:  # after self
            if param.name not in offered:
                problems.append(f"{cls.__name__}.{name} lacks parameter {param.name!r}")
            elif param.default is not param.empty and offered[param.name].default is param.empty:
                problems.append(f"{cls.__name__}.{name}: {param.name!r} must be optional")
        required = [
            p
            for p in list(offered.values())[1:]
            if p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.name not in declared.parameters
        ]
        problems += [f"{cls.__name__}.{name} requires {p.name!r}, which the port does not pass" for p in required]
    return problems
