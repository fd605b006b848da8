"""shared/adapters/bigquery_store/sqltext.py: values in a transaction script are literals that
no value can break out of, and come back exactly as they went in (on bqemulator)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from shared.adapters.bigquery_store import BigQueryStore
from shared.adapters.bigquery_store.sqltext import Literals, micros
from tests.support.bigquery_jobs import bq_store  # noqa: F401 (fixture)
from tests.support.bqemulator import bq_emulator  # noqa: F401 (fixture)

HOSTILE = [
    "it's",
    'a "quoted" \\ back\\slash',
    "'); DROP TABLE org_integrations; --",
    "line\nbreak\r\ttab",
    "é ü 漢字 😀",
    "`backtick` ; semicolon",
    "",
    "x" * 5000,
]
SAFE = re.compile(
    r"^(SAFE_CONVERT_BYTES_TO_STRING\(FROM_BASE64\('[A-Za-z0-9+/=]*'\)\)|FROM_BASE64\('[A-Za-z0-9+/=]*'\))$"
)


@pytest.mark.parametrize("value", HOSTILE)
def test_a_text_literal_holds_only_the_base64_alphabet_between_its_quotes(value: str) -> None:
    assert SAFE.match(Literals().value("STRING", value))
    assert SAFE.match(Literals().value("BYTES", value.encode()))


def test_other_types_refuse_what_is_not_theirs() -> None:
    literal = Literals()
    assert literal.value("INT64", -42) == "-42" and literal.value("STRING", None) == "CAST(NULL AS STRING)"
    for type_, value in [("INT64", "1; DROP"), ("INT64", True), ("INT64", 1.5), ("TIMESTAMP", "now"), ("BOOL", 1)]:
        with pytest.raises(TypeError):
            literal.value(type_, value)
    with pytest.raises(TypeError):
        literal.value("GEOGRAPHY", "POINT(0 0)")
    assert literal.value_list([]) == "ARRAY<STRING>[]"


def test_microseconds_are_exact_far_from_the_epoch() -> None:
    at = datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros(at)) == at


def test_every_value_comes_back_exactly_through_a_script(bq_store: BigQueryStore) -> None:
    literal = Literals()
    at = datetime(2026, 3, 14, 15, 9, 26, 535000, tzinfo=timezone.utc)
    selects = [
        f"SELECT {i} AS n, {literal.value('STRING', v)} AS s, {literal.value('BYTES', v.encode())} AS b, "
        f"{literal.value('TIMESTAMP', at)} AS t, {literal.value('INT64', -i)} AS i"
        for i, v in enumerate(HOSTILE)
    ]
    script = "DECLARE unused INT64;\n" + " UNION ALL ".join(selects) + " ORDER BY n;"
    found, _ = bq_store._ds.query(script, [])
    assert [r["s"] for r in found] == HOSTILE
    assert [r["b"] for r in found] == [v.encode() for v in HOSTILE]
    assert {r["t"] for r in found} == {at} and [r["i"] for r in found] == [-i for i in range(len(HOSTILE))]
