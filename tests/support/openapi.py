"""Holds HTTP answers to configs/openapi.yaml.

`assert_conforms(method, path, status, body, headers)` finds the operation a concrete
request went to, checks the status is one the document gives for it and validates the
body (and documented headers) against the response's schema (JSON Schema 2020-12, `$ref`s
resolved inside the document). Requests outside the documented operations are held to the
document's `MethodNotAllowed` (known path, other method) and `NotFound` (no path) responses;
an OPTIONS preflight on a known path may answer 204 with `Allow` and no body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[2] / "configs" / "openapi.yaml"
SPEC_URI = "urn:integrations:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Methods a server may answer on any path without the document naming them (Allow may list them).
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
# A CORS preflight (OPTIONS on a documented path) answers this status, with Allow and no body.
PREFLIGHT_STATUS = 204
_MAX_SHOWN = 600


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    """The OpenAPI document, loaded once."""
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _registry() -> Registry:
    resource = Resource.from_contents(spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


@lru_cache(maxsize=256)
def _validator(pointer: str) -> Draft202012Validator:
    """A validator for the schema at `pointer` (a JSON pointer into the document)."""
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(*tokens: str) -> str:
    return "".join("/" + _escape(t) for t in tokens)


def _resolve(pointer: str) -> tuple[str, Any]:
    """Follow local `$ref`s of non-schema objects (responses, parameters) to their target."""
    node = _at(pointer)
    seen = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        if pointer in seen:
            raise ValueError(f"$ref cycle at {pointer}")
        seen.add(pointer)
        pointer = node["$ref"][1:]
        node = _at(pointer)
    return pointer, node


def _at(pointer: str) -> Any:
    node: Any = spec()
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        node = node[token]
    return node


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    template: str  # the document's path, e.g. /api/v1/integrations/{org}/{provider}
    operation_id: str
    pointer: str  # JSON pointer of the operation object

    @property
    def responses(self) -> dict[str, Any]:
        return _at(self.pointer)["responses"]


def templates() -> list[str]:
    return list(spec()["paths"])


def operations() -> list[Operation]:
    """Every documented operation."""
    found = []
    for template, item in spec()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                found.append(
                    Operation(
                        method.upper(), template, item[method]["operationId"], _pointer("paths", template, method)
                    )
                )
    return found


def match_template(path: str) -> str | None:
    """The document path a concrete path falls under (query string ignored), or None.

    Segments must line up one to one; `{param}` matches any non-empty segment. Where more
    than one template fits, the one with the most literal segments wins. One trailing slash
    is ignored, as the server ignores it.
    """
    concrete = urlsplit(path).path
    if len(concrete) > 1 and concrete.endswith("/"):
        concrete = concrete[:-1]
    segments = concrete.split("/")
    best: tuple[int, str] | None = None
    for template in spec()["paths"]:
        parts = template.split("/")
        if len(parts) != len(segments):
            continue
        literal = 0
        for part, segment in zip(parts, segments):
            if part.startswith("{") and part.endswith("}"):
                if not segment:
                    break
            elif part != segment:
                break
            else:
                literal += 1
        else:
            if best is None or literal > best[0]:
                best = (literal, template)
    return best[1] if best else None


def find_operation(method: str, path: str) -> Operation | None:
    """The documented operation for a concrete request, or None (no such path or method)."""
    template = match_template(path)
    if template is None:
        return None
    item = spec()["paths"][template]
    verb = method.lower()
    if verb not in item:
        return None
    return Operation(verb.upper(), template, item[verb]["operationId"], _pointer("paths", template, verb))


def allowed_methods(template: str) -> set[str]:
    item = spec()["paths"][template]
    return {m.upper() for m in HTTP_METHODS if m in item}


def schema_errors(pointer: str, instance: Any) -> list[str]:
    """Every way `instance` fails the schema at `pointer`, as readable lines (empty: valid)."""
    errors = sorted(_validator(pointer).iter_errors(instance), key=lambda e: list(e.absolute_path))
    lines = []
    for error in errors:
        lines.extend(_describe(error))
    return lines


def _describe(error: Any, depth: int = 0) -> list[str]:
    where = "/".join(str(p) for p in error.absolute_path) or "<root>"
    lines = [f"{'  ' * depth}at {where}: {error.message[:300]}"]
    # oneOf/anyOf failures hide the useful reason in their context; show one level of it.
    if error.context and depth < 2:
        for sub in sorted(error.context, key=lambda e: len(list(e.relative_path)), reverse=True)[:6]:
            lines.extend(_describe(sub, depth + 1))
    return lines


def component_errors(name: str, instance: Any) -> list[str]:
    """Every way `instance` fails `components/schemas/<name>` (empty: valid)."""
    return schema_errors(_pointer("components", "schemas", name), instance)


def _response_for(responses: Mapping[str, Any], status: int) -> str | None:
    code = str(status)
    for key in (code, code[0] + "XX", "default"):
        if key in responses:
            return key
    return None


def _shown(body: Any) -> str:
    try:
        text = json.dumps(body, default=str)
    except (TypeError, ValueError):
        text = repr(body)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "...(cut)"


def assert_conforms(
    method: str,
    path: str,
    status: int,
    body: Any | None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Raise AssertionError unless this answer is one configs/openapi.yaml allows.

    `body` is the parsed JSON body (None for no body). `headers`, when given, are checked
    for the headers the response documents and for a JSON Content-Type on JSON answers.
    """
    method = method.upper()
    label = f"{method} {path} -> {status}"
    template = match_template(path)
    if template is None:
        response_pointer = _pointer("components", "responses", "NotFound")
        where = "no documented path (components/responses/NotFound)"
        if status != 404:
            raise AssertionError(f"{label}: {where} allows only 404; body {_shown(body)}")
    else:
        operation = find_operation(method, path)
        if operation is None and method == "OPTIONS" and status == PREFLIGHT_STATUS:
            problems = [] if body in (None, b"", "") else ["a preflight answer has no body"]
            if headers is not None:
                allow = _header(headers, "Allow")
                problems += ["Allow missing"] if allow is None else _allow_problems(allow, template)
            if problems:
                raise AssertionError(f"{label}: CORS preflight on {template}:\n  " + "\n  ".join(problems))
            return
        if operation is None:
            response_pointer = _pointer("components", "responses", "MethodNotAllowed")
            where = f"{template} takes {sorted(allowed_methods(template))}, not {method} (components/responses/MethodNotAllowed)"
            if status != 405:
                raise AssertionError(f"{label}: {where} allows only 405; body {_shown(body)}")
        else:
            key = _response_for(operation.responses, status)
            where = f"{operation.operation_id} ({method} {template})"
            if key is None:
                raise AssertionError(
                    f"{label}: status {status} is not documented for {where}; documented: "
                    f"{sorted(operation.responses)}; body {_shown(body)}"
                )
            response_pointer = operation.pointer + _pointer("responses", key)

    response_pointer, response = _resolve(response_pointer)
    problems: list[str] = []
    content = response.get("content") or {}
    if content:
        media = "application/json" if "application/json" in content else next(iter(content))
        if body is None:
            problems.append(f"a {media} body is documented, the answer has none")
        elif "schema" in content[media]:
            schema_pointer = response_pointer + _pointer("content", media, "schema")
            problems.extend(schema_errors(schema_pointer, body))
        if headers is not None:
            content_type = _header(headers, "Content-Type")
            if content_type is None or content_type.split(";")[0].strip().lower() != media:
                problems.append(f"Content-Type is {content_type!r}, documented {media}")
    elif body not in (None, b"", ""):
        problems.append("no body is documented, the answer has one")

    if headers is not None:
        for name, spec_header in (response.get("headers") or {}).items():
            value = _header(headers, name)
            if value is None:
                if spec_header.get("required"):
                    problems.append(f"header {name} is documented as required, missing")
                continue
            if name.lower() == "allow" and template is not None:
                problems.extend(_allow_problems(value, template))

    if problems:
        raise AssertionError(
            f"{label}: the answer does not conform to {where}:\n  " + "\n  ".join(problems) + f"\nbody: {_shown(body)}"
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _allow_problems(value: str, template: str) -> list[str]:
    listed = {m.strip().upper() for m in value.split(",") if m.strip()}
    documented = allowed_methods(template)
    problems = []
    if missing := documented - listed:
        problems.append(f"Allow {value!r} misses {sorted(missing)}")
    if extra := listed - documented - IMPLICIT_METHODS:
        problems.append(f"Allow {value!r} lists undocumented {sorted(extra)}")
    return problems
