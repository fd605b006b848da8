"""The Store contract, continued: a use case's one read (`Store.read`) and a unit of work that
counts a validation attempt (`Write.attempt`). Every adapter (conftest.py: SQLite, BigQuery on
bqemulator) passes the same tests."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from shared.domain.errors import ConflictError, RateLimitedError
from shared.ports import AttemptWindow, Write
from tests.contract.test_store_contract import T0, _ref, make_event, make_integration, make_org, make_record


def test_read_is_the_integration_with_its_ciphertexts_and_the_window_s_attempts(store) -> None:
    empty = store.read("acme", "openai", credentials=True, attempts_since=T0)
    assert (empty.integration, empty.credentials, empty.attempts, empty.oldest_attempt) == (None, (), 0, None)

    current, staged, stray = (make_record(credential_id=c) for c in ("c-1", "c-2", "c-0"))
    saved = store.commit(Write("acme", "openai", None, make_integration(credential=_ref(current)), (current, staged)))
    store.put_credential(stray)
    store.put_credential(make_record(provider="gcp", credential_id="other"))
    store.put_credential(make_record(org="globex", credential_id="c-9"))
    for seconds in (5, 10, 20):
        assert store.try_record_attempt("acme", "openai", T0 + timedelta(seconds=seconds), 600, 10).allowed
    store.try_record_attempt("acme", "gcp", T0 + timedelta(seconds=30), 600, 10)

    full = store.read("acme", "openai", credentials=True, attempts_since=T0 + timedelta(seconds=5))
    assert full.integration == saved
    assert [r.credential_id for r in full.credentials] == ["c-0", "c-1", "c-2"]
    assert full.credential("c-1") == current and full.credential("nope") is None
    assert (full.attempts, full.oldest_attempt) == (2, T0 + timedelta(seconds=10))

    bare = store.read("acme", "openai")
    assert (bare.integration, bare.credentials, bare.attempts) == (saved, (), 0)
    assert store.read("acme", "gcp", credentials=True).integration is None
    assert [r.credential_id for r in store.read("acme", "gcp", credentials=True).credentials] == ["other"]


def test_read_brings_the_org_s_row_when_asked(store) -> None:
    """A check bound to the org (AWS: its external ID) reads it with the integration, in one read."""
    assert store.read("acme", "aws", with_org=True).org is None  # no such org
    store.create_org(make_org("acme"))
    store.create_org(make_org("globex"))
    store.set_aws_external_id("acme", "ext-acme")
    current = make_record(provider="aws", credential_id="c-1")
    saved = store.commit(
        Write("acme", "aws", None, make_integration(provider="aws", credential=_ref(current)), (current,))
    )

    seen = store.read("acme", "aws", credentials=True, attempts_since=T0, with_org=True)
    assert seen.org == store.get_org("acme") and seen.org.aws_external_id == "ext-acme"
    assert (seen.integration, [r.credential_id for r in seen.credentials]) == (saved, ["c-1"])
    alone = store.read("globex", "aws", with_org=True)  # no integration: the org all the same
    assert (alone.integration, alone.org.slug, alone.org.aws_external_id) == (None, "globex", None)
    assert store.read("acme", "aws").org is None  # not asked


def test_a_write_counts_its_attempt_and_is_refused_whole_when_the_window_is_full(store) -> None:
    window = AttemptWindow(T0, 600, 2)
    first = make_record(credential_id="c-1")
    saved = store.commit(
        Write("acme", "openai", None, make_integration(credential=_ref(first)), (first,), attempt=window)
    )
    assert store.read("acme", "openai", attempts_since=T0 - timedelta(seconds=1)).attempts == 1

    second = make_record(credential_id="c-2", version=2)
    changed = saved.model_copy(update={"credential": _ref(second), "name": "Second"})
    later = AttemptWindow(T0 + timedelta(seconds=100), 600, 2)
    saved = store.commit(
        Write("acme", "openai", 1, changed, (second,), frozenset({"c-1"}), (make_event(T0, "e2"),), attempt=later)
    )
    assert saved.revision == 2

    third = make_record(credential_id="c-3", version=3)
    refused = saved.model_copy(update={"credential": _ref(third), "name": "Third"})
    with pytest.raises(RateLimitedError) as caught:
        store.commit(
            Write(
                "acme",
                "openai",
                2,
                refused,
                (third,),
                frozenset({"c-2"}),
                (make_event(T0, "e3"),),
                attempt=AttemptWindow(T0 + timedelta(seconds=250), 600, 2),
            )
        )
    assert caught.value.headers == {"Retry-After": "350"}  # T0 + 600 - (T0 + 250)
    after = store.read("acme", "openai", credentials=True, attempts_since=T0 - timedelta(seconds=1))
    assert after.integration == saved and [r.credential_id for r in after.credentials] == ["c-2"]
    assert after.attempts == 2 and [e.id for e in store.list_events("acme", "openai", 10)] == ["e2"]


def test_a_write_that_loses_its_race_keeps_no_attempt(store) -> None:
    saved = store.commit(Write("acme", "openai", None, make_integration()))
    with pytest.raises(ConflictError):
        store.commit(Write("acme", "openai", 7, saved, attempt=AttemptWindow(T0, 600, 5)))
    with pytest.raises(ConflictError):
        store.commit(Write("acme", "openai", None, make_integration(), attempt=AttemptWindow(T0, 600, 5)))
    assert store.read("acme", "openai", attempts_since=T0 - timedelta(seconds=1)).attempts == 0


def test_attempts_counted_by_writes_and_alone_are_exact_together_under_concurrency(store) -> None:
    saved = store.commit(Write("acme", "openai", None, make_integration()))
    barrier = threading.Barrier(9)
    allowed: list[bool] = []
    errors: list[BaseException] = []

    def alone() -> None:
        barrier.wait()
        try:
            allowed.append(store.try_record_attempt("acme", "openai", T0, 600, 4).allowed)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def with_a_write() -> None:
        barrier.wait()
        try:
            store.commit(Write("acme", "openai", 1, saved, attempt=AttemptWindow(T0, 600, 4)))
            allowed.append(True)
        except RateLimitedError:
            allowed.append(False)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=alone) for _ in range(8)] + [threading.Thread(target=with_a_write)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert allowed.count(True) == 4 and allowed.count(False) == 5
    assert store.read("acme", "openai", attempts_since=T0 - timedelta(seconds=1)).attempts == 4
