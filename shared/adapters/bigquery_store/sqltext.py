"""Values into SQL text, two ways, one interface: `Bind.value(type, value)` returns what goes
where the value belongs.

- `Params()`: a query parameter (`@p0`, `@p1`...; BYTES as a base64 STRING decoded by
  FROM_BASE64), collected in `.params`. Every single statement uses this.
- `Literals()`: a literal built so that no value can change the statement: text and bytes
  travel base64-encoded (the alphabet A-Z a-z 0-9 + / = holds no quote, backslash or
  semicolon), numbers are formatted from Python ints, timestamps as integer microseconds.
  Only transaction scripts use this: bqemulator does not run a parameterized script, and
  the one code path runs on the emulator and on BigQuery alike.

Both accept the schema's types: STRING, BYTES, INT64, TIMESTAMP, BOOL, and ARRAY<STRING>
(`value_list`).
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any, Iterable

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def micros(value: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    delta = aware - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Params:
    def __init__(self) -> None:
        from google.cloud import bigquery  # lazy: this module is imported by the store, on first use only

        self._bq = bigquery
        self.params: list[Any] = []

    def _add(self, type_: str, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params.append(self._bq.ScalarQueryParameter(name, type_, value))
        return f"@{name}"

    def value(self, type_: str, value: Any) -> str:
        if type_ == "BYTES":
            return f"FROM_BASE64({self._add('STRING', None if value is None else _b64(bytes(value)))})"
        return self._add(type_, value)

    def value_list(self, values: Iterable[str]) -> str:
        name = f"p{len(self.params)}"
        self.params.append(self._bq.ArrayQueryParameter(name, "STRING", sorted(values)))
        return f"@{name}"


class Literals:
    params: list[Any] = []  # none: everything is in the text

    def value(self, type_: str, value: Any) -> str:
        if value is None:
            return f"CAST(NULL AS {type_})"
        if type_ == "STRING":
            # SAFE_CONVERT_BYTES_TO_STRING: bqemulator's CAST(bytes AS STRING) keeps escapes.
            return f"SAFE_CONVERT_BYTES_TO_STRING(FROM_BASE64('{_b64(str(value).encode('utf-8'))}'))"
        if type_ == "BYTES":
            return f"FROM_BASE64('{_b64(bytes(value))}')"
        if type_ == "INT64":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("INT64 literal of a non-integer")
            return str(value)
        if type_ == "TIMESTAMP":
            if not isinstance(value, datetime):
                raise TypeError("TIMESTAMP literal of a non-datetime")
            return f"TIMESTAMP_MICROS({micros(value)})"
        if type_ == "BOOL":
            if not isinstance(value, bool):
                raise TypeError("BOOL literal of a non-bool")
            return "TRUE" if value else "FALSE"
        raise TypeError(f"no literal for type {type_}")

    def value_list(self, values: Iterable[str]) -> str:
        items = [self.value("STRING", v) for v in sorted(values)]
        return f"[{', '.join(items)}]" if items else "ARRAY<STRING>[]"


Bind = Params | Literals
