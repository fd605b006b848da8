"""The Store contract (shared/ports.py): every adapter passes the same tests.

Each test runs on SQLite and on BigQuery (bqemulator); see conftest.py for `store`.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from shared.domain.errors import ConflictError
from shared.domain.lifecycle import Status
from shared.domain.models import CredentialRecord, CredentialRef, Event, Integration, Org, Rotation
from shared.ports import Write

T0 = datetime(2026, 3, 14, 15, 9, 26, 535000, tzinfo=timezone.utc)
CEST = timezone(timedelta(hours=2))


def make_org(slug: str = "acme", key: str | None = None) -> Org:
    key = key or f"key-{slug}-{uuid.uuid4().hex}"
    return Org(
        slug=slug, api_key_id=f"kid_{slug}", api_key_hash=hashlib.sha256(key.encode()).hexdigest(), created_at=T0
    )


def make_integration(org: str = "acme", provider: str = "openai", **overrides: Any) -> Integration:
    fields: dict[str, Any] = dict(
        org=org,
        provider=provider,
        category="llm",
        name="OpenAI",
        status=Status.PENDING,
        created_at=T0,
        updated_at=T0,
    )
    fields.update(overrides)
    return Integration(**fields)


def full_integration(org: str = "acme", provider: str = "gcp") -> Integration:
    """Every optional field set, with values that tempt a lossy mapping."""
    return make_integration(
        org=org,
        provider=provider,
        category="cloud",
        name="Google Cloud",
        status=Status.ERROR,
        status_code="missing_permissions",
        status_message="Missing permissions: bigquery.jobs.create",
        credential=CredentialRef(
            credential_id="c-1",
            version=3,
            fingerprint="ab" * 32,
            hint="sa@p.iam key 0123abcd",
            created_at=T0 + timedelta(seconds=1),
            expires_at=(T0 + timedelta(days=30)).date(),
            expiry_warned_at=T0 + timedelta(days=16, milliseconds=7),
        ),
        rotation=Rotation(
            credential_id="c-2",
            version=4,
            status="failed",
            message="API key invalid or expired",
            fingerprint="cd" * 32,
            hint="sk-...wxyz",
            created_at=T0 + timedelta(seconds=2),
            expires_at=(T0 + timedelta(days=400)).date(),
        ),
        config={"billing_table": "p.d.t", "nested": {"list": [1, 2.5, None, "é"], "flag": True}},
        created_at=T0,
        updated_at=T0 + timedelta(minutes=5),
        last_validated_at=T0 + timedelta(minutes=4),
        capabilities=("costs", "usage"),
    )


def make_record(
    org: str = "acme", provider: str = "openai", credential_id: str = "c-1", **overrides: Any
) -> CredentialRecord:
    fields: dict[str, Any] = dict(
        org=org,
        provider=provider,
        credential_id=credential_id,
        version=1,
        ciphertext=b"\x00sealed\xff",
        key_version="v1",
        fingerprint="ef" * 32,
        hint="sk-...a1B2",
        created_at=T0,
    )
    fields.update(overrides)
    return CredentialRecord(**fields)


def make_event(at: datetime, event_id: str, org: str = "acme", provider: str = "openai", **overrides: Any) -> Event:
    fields: dict[str, Any] = dict(
        id=event_id, org=org, provider=provider, at=at, action="setup", actor="kid_acme", outcome="pending"
    )
    fields.update(overrides)
    return Event(**fields)


# -- orgs ---------------------------------------------------------------------------------


def test_org_create_get_and_find_by_key_hash(store):
    org = make_org("acme")
    store.create_org(org)
    store.create_org(make_org("globex"))

    assert store.get_org("acme") == org
    assert store.find_org_by_key_hash(org.api_key_hash) == org
    assert store.get_org("initech") is None
    assert store.find_org_by_key_hash("0" * 64) is None


def test_duplicate_org_is_a_conflict_and_keeps_the_first(store):
    first = make_org("acme")
    store.create_org(first)
    with pytest.raises(ConflictError):
        store.create_org(make_org("acme"))
    assert store.get_org("acme") == first


def test_replace_org_key_refuses_the_old_key_at_once_and_touches_no_other_org(store):
    old, other = make_org("acme"), make_org("globex")
    store.create_org(old)
    store.create_org(other)
    new_hash = hashlib.sha256(b"the new key").hexdigest()
    issued = T0 + timedelta(days=1)

    assert store.replace_org_key("acme", "kid_new", new_hash, issued) is True
    assert store.find_org_by_key_hash(old.api_key_hash) is None
    expected = Org(slug="acme", api_key_id="kid_new", api_key_hash=new_hash, created_at=issued)
    assert store.find_org_by_key_hash(new_hash) == expected
    assert store.get_org("acme") == expected
    assert store.get_org("globex") == other and store.find_org_by_key_hash(other.api_key_hash) == other

    # Revocation is a replacement by a value no key hashes to; a later rotation works again.
    assert store.replace_org_key("acme", "key_revoked", "revoked:0123", issued) is True
    assert store.find_org_by_key_hash(new_hash) is None
    assert store.replace_org_key("acme", "kid_third", "ab" * 32, issued) is True
    assert store.find_org_by_key_hash("ab" * 32).api_key_id == "kid_third"


def test_replace_org_key_of_an_unknown_org_is_false_and_creates_nothing(store):
    assert store.replace_org_key("initech", "kid_x", "cd" * 32, T0) is False
    assert store.get_org("initech") is None and store.find_org_by_key_hash("cd" * 32) is None


def test_an_orgs_aws_external_id_is_set_once_and_survives_key_changes(store):
    store.create_org(make_org("acme"))
    store.create_org(make_org("globex"))
    assert store.get_org("acme").aws_external_id is None

    assert store.set_aws_external_id("acme", "ext-first") == "ext-first"
    # Set once: a later (or concurrent) first use reads the one already there.
    assert store.set_aws_external_id("acme", "ext-second") == "ext-first"
    assert store.get_org("acme").aws_external_id == "ext-first"
    assert store.get_org("globex").aws_external_id is None
    # A new API key (rotate or revoke) keeps it: customers' trust policies name it.
    assert store.replace_org_key("acme", "kid_new", "ef" * 32, T0) is True
    assert store.find_org_by_key_hash("ef" * 32).aws_external_id == "ext-first"
    assert store.set_aws_external_id("initech", "ext-x") is None and store.get_org("initech") is None


# -- integrations -------------------------------------------------------------------------


def test_insert_returns_revision_1_and_get_reads_it_back(store):
    stored = store.insert_integration(make_integration(revision=0))
    assert stored.revision == 1
    assert store.get_integration("acme", "openai") == stored
    assert store.get_integration("acme", "anthropic") is None
    assert store.get_integration("globex", "openai") is None


def test_insert_of_an_existing_row_is_a_conflict(store):
    first = store.insert_integration(make_integration(name="first"))
    with pytest.raises(ConflictError):
        store.insert_integration(make_integration(name="second"))
    assert store.get_integration("acme", "openai") == first


def test_update_is_compare_and_set_on_revision(store):
    stored = store.insert_integration(make_integration())
    changed = stored.model_copy(update={"status": Status.VALIDATING, "updated_at": T0 + timedelta(seconds=3)})

    updated = store.update_integration(changed, expected_revision=1)
    assert updated.revision == 2
    assert updated.status is Status.VALIDATING
    assert store.get_integration("acme", "openai") == updated

    with pytest.raises(ConflictError):  # stale: someone else already moved it to 2
        store.update_integration(changed.model_copy(update={"status": Status.ACTIVE}), expected_revision=1)
    assert store.get_integration("acme", "openai") == updated

    again = store.update_integration(updated.model_copy(update={"status": Status.ACTIVE}), expected_revision=2)
    assert again.revision == 3 and store.get_integration("acme", "openai").status is Status.ACTIVE


def test_update_of_a_missing_row_is_a_conflict(store):
    with pytest.raises(ConflictError):
        store.update_integration(make_integration(), expected_revision=1)
    assert store.get_integration("acme", "openai") is None


def test_delete_is_compare_and_set_on_revision(store):
    store.insert_integration(make_integration())
    with pytest.raises(ConflictError):
        store.delete_integration("acme", "openai", expected_revision=7)
    assert store.get_integration("acme", "openai") is not None

    store.delete_integration("acme", "openai", expected_revision=1)
    assert store.get_integration("acme", "openai") is None
    with pytest.raises(ConflictError):  # already gone
        store.delete_integration("acme", "openai", expected_revision=1)


def test_concurrent_updates_at_one_revision_have_one_winner(store):
    store.insert_integration(make_integration())
    outcomes: list[str] = []

    def writer(i: int) -> None:
        item = make_integration(status_message=f"writer {i}")
        try:
            store.update_integration(item, expected_revision=1)
            outcomes.append("won")
        except ConflictError:
            outcomes.append("lost")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    assert store.get_integration("acme", "openai").revision == 2


def test_list_integrations_is_per_org_ordered_by_provider(store):
    for provider in ("openai", "anthropic", "gcp"):
        store.insert_integration(make_integration(provider=provider))
    store.insert_integration(make_integration(org="globex", provider="deepseek"))

    assert [i.provider for i in store.list_integrations("acme")] == ["anthropic", "gcp", "openai"]
    assert [i.provider for i in store.list_integrations("globex")] == ["deepseek"]
    assert store.list_integrations("initech") == []


def test_list_integrations_by_status_spans_orgs(store):
    store.insert_integration(make_integration(org="acme", provider="openai", status=Status.ACTIVE))
    store.insert_integration(make_integration(org="acme", provider="gcp", status=Status.PENDING))
    store.insert_integration(make_integration(org="globex", provider="anthropic", status=Status.ACTIVE))

    active = store.list_integrations_by_status("active")
    assert sorted((i.org, i.provider) for i in active) == [("acme", "openai"), ("globex", "anthropic")]
    assert all(i.status is Status.ACTIVE for i in active)
    assert store.list_integrations_by_status("expired") == []


def test_every_integration_field_round_trips(store):
    item = full_integration()
    stored = store.insert_integration(item)
    read = store.get_integration("acme", "gcp")
    assert read == stored == item.model_copy(update={"revision": 1})
    assert read.config["nested"]["list"] == [1, 2.5, None, "é"]
    assert read.rotation.status == "failed" and read.rotation.message == "API key invalid or expired"
    assert read.credential.fingerprint == "ab" * 32


def test_absent_optional_fields_stay_absent(store):
    saas = make_integration(provider="datadog", category="saas", name="Datadog", status=Status.ACTIVE)
    store.insert_integration(saas)
    read = store.get_integration("acme", "datadog")
    assert read.credential is None and read.rotation is None and read.last_validated_at is None
    assert read.status_code is None and read.status_message is None and read.config == {}

    # and a value can be cleared back to None by an update
    full = store.insert_integration(full_integration(provider="gcp"))
    cleared = full.model_copy(
        update={
            "rotation": None,
            "credential": None,
            "status_code": None,
            "status_message": None,
            "last_validated_at": None,
            "config": {},
        }
    )
    store.update_integration(cleared, expected_revision=1)
    read = store.get_integration("acme", "gcp")
    assert (read.rotation, read.credential, read.status_code, read.last_validated_at, read.config) == (
        None,
        None,
        None,
        None,
        {},
    )


def test_timestamps_come_back_in_utc_to_the_millisecond(store):
    local = datetime(2026, 3, 14, 17, 9, 26, 535000, tzinfo=CEST)  # == T0
    store.insert_integration(make_integration(created_at=local, updated_at=T0 + timedelta(microseconds=987654)))
    read = store.get_integration("acme", "openai")
    assert read.created_at == T0 and read.created_at.utcoffset() == timedelta(0)
    assert read.updated_at == T0 + timedelta(microseconds=987000)  # sub-millisecond digits are dropped
    assert read.updated_at.utcoffset() == timedelta(0)


# -- credentials --------------------------------------------------------------------------


def test_credential_put_get_round_trips_every_byte_value(store):
    record = make_record(
        ciphertext=bytes(range(256)) + bytes(range(255, -1, -1)),
        version=7,
        key_version="v3",
        created_at=datetime(2026, 3, 14, 16, 0, 0, 1000, tzinfo=CEST),
    )
    store.put_credential(record)
    read = store.get_credential("acme", "openai", "c-1")
    assert read == record
    assert isinstance(read.ciphertext, bytes) and read.ciphertext == record.ciphertext
    assert read.created_at.utcoffset() == timedelta(0)
    assert store.get_credential("acme", "openai", "c-2") is None
    assert store.get_credential("globex", "openai", "c-1") is None


def test_credential_put_twice_is_a_conflict(store):
    store.put_credential(make_record())
    with pytest.raises(ConflictError):
        store.put_credential(make_record(ciphertext=b"other"))
    assert store.get_credential("acme", "openai", "c-1").ciphertext == b"\x00sealed\xff"


def test_delete_credential_removes_one(store):
    store.put_credential(make_record(credential_id="c-1"))
    store.put_credential(make_record(credential_id="c-2"))
    assert store.delete_credential("acme", "openai", "c-1") is True
    assert store.delete_credential("acme", "openai", "c-1") is False
    assert store.get_credential("acme", "openai", "c-1") is None
    assert store.get_credential("acme", "openai", "c-2") is not None


def test_delete_credentials_keeps_what_it_is_told_and_touches_no_other_owner(store):
    for cid in ("c-1", "c-2", "c-3"):
        store.put_credential(make_record(credential_id=cid))
    store.put_credential(make_record(provider="anthropic", credential_id="c-1"))
    store.put_credential(make_record(org="globex", credential_id="c-1"))

    assert store.delete_credentials("acme", "openai", keep=frozenset({"c-2"})) == 2
    assert [store.get_credential("acme", "openai", c) is not None for c in ("c-1", "c-2", "c-3")] == [
        False,
        True,
        False,
    ]
    assert store.get_credential("acme", "anthropic", "c-1") is not None
    assert store.get_credential("globex", "openai", "c-1") is not None
    assert store.delete_credentials("acme", "openai") == 1
    assert store.delete_credentials("acme", "openai") == 0


def test_delete_credentials_created_before_spares_newer_rows(store):
    store.put_credential(make_record(credential_id="old", created_at=T0))
    store.put_credential(make_record(credential_id="new", created_at=T0 + timedelta(minutes=10)))
    store.put_credential(make_record(credential_id="kept", created_at=T0))

    deleted = store.delete_credentials(
        "acme", "openai", keep=frozenset({"kept"}), created_before=T0 + timedelta(minutes=5)
    )
    assert deleted == 1
    assert store.get_credential("acme", "openai", "old") is None
    assert store.get_credential("acme", "openai", "new") is not None
    assert store.get_credential("acme", "openai", "kept") is not None


def test_list_credentials_pages_through_every_owner_in_key_order(store):
    keys = [
        ("acme", "openai", "c-2"),
        ("acme", "anthropic", "c-9"),
        ("globex", "gcp", "c-1"),
        ("acme", "openai", "c-1"),
        ("acme", "openai", "c-10"),
        ("aardvark", "zeta", "c-0"),
    ]
    for org, provider, cid in keys:
        store.put_credential(make_record(org=org, provider=provider, credential_id=cid))

    seen: list[tuple[str, str, str]] = []
    after = None
    pages = 0
    while True:
        page = store.list_credentials(after, limit=4)
        pages += 1
        if not page:
            break
        assert len(page) <= 4
        seen += [(r.org, r.provider, r.credential_id) for r in page]
        after = seen[-1]
    assert seen == sorted(keys)
    assert pages == 3  # 4 + 2 + the empty page
    assert store.list_credentials(None, limit=2)[1].ciphertext == b"\x00sealed\xff"


def test_replace_ciphertext_only_swaps_the_expected_old_value(store):
    old = bytes(range(256))
    store.put_credential(make_record(ciphertext=old, key_version="v1"))
    rewrapped = make_record(ciphertext=b"\x01rewrapped\x00" * 3, key_version="v2")

    assert store.replace_ciphertext(rewrapped, old_ciphertext=b"not the stored one") is False
    assert store.get_credential("acme", "openai", "c-1").ciphertext == old

    assert store.replace_ciphertext(rewrapped, old_ciphertext=old) is True
    read = store.get_credential("acme", "openai", "c-1")
    assert (read.ciphertext, read.key_version) == (rewrapped.ciphertext, "v2")
    assert store.replace_ciphertext(make_record(ciphertext=b"third", key_version="v3"), old_ciphertext=old) is False
    assert store.replace_ciphertext(make_record(credential_id="missing"), old_ciphertext=old) is False


# -- rate limit ---------------------------------------------------------------------------


def _allowed(store, org: str, provider: str, at: datetime, window: int, limit: int) -> bool:
    return store.try_record_attempt(org, provider, at, window, limit).allowed


def test_attempts_are_limited_within_the_window_and_free_after_it(store):
    results = [_allowed(store, "acme", "openai", T0 + timedelta(seconds=i), 600, 3) for i in range(4)]
    assert results == [True, True, True, False]
    # Another provider and another org have their own budgets.
    assert _allowed(store, "acme", "anthropic", T0, 600, 3) is True
    assert _allowed(store, "globex", "openai", T0, 600, 3) is True
    # Still inside the window of the first attempt (at T0): refused.
    assert _allowed(store, "acme", "openai", T0 + timedelta(seconds=599), 600, 3) is False
    # The first attempt left the window (T0 + 600 is not > T0 + 600 - 600): one slot frees up.
    assert _allowed(store, "acme", "openai", T0 + timedelta(seconds=600), 600, 3) is True
    assert _allowed(store, "acme", "openai", T0 + timedelta(seconds=600), 600, 3) is False
    # Long after, the whole budget is back.
    later = T0 + timedelta(hours=2)
    assert [_allowed(store, "acme", "openai", later, 600, 3) for _ in range(4)] == [True, True, True, False]


def test_a_refusal_says_when_the_oldest_attempt_leaves_the_window(store):
    assert store.try_record_attempt("acme", "openai", T0, 600, 2).allowed
    assert store.try_record_attempt("acme", "openai", T0 + timedelta(seconds=100), 600, 2).allowed
    refused = store.try_record_attempt("acme", "openai", T0 + timedelta(seconds=250.5), 600, 2)
    assert (refused.allowed, refused.retry_after) == (False, 350)  # T0 + 600 - (T0 + 250.5), rounded up


def test_attempts_are_exact_under_concurrency(store):
    barrier = threading.Barrier(12)
    results: list[bool] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        barrier.wait()
        try:
            results.append(_allowed(store, "acme", "openai", T0, 600, 5))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert results.count(True) == 5 and results.count(False) == 7
    assert _allowed(store, "acme", "openai", T0 + timedelta(seconds=1), 600, 5) is False


# -- events -------------------------------------------------------------------------------


def test_events_are_listed_newest_first_per_owner(store):
    store.append_event(make_event(T0, "e1", fingerprint="ab" * 32, details={"version": 1, "why": ["a", "b"]}))
    store.append_event(make_event(T0 + timedelta(seconds=2), "e3", action="validate", outcome="active"))
    store.append_event(make_event(T0 + timedelta(seconds=1), "e2"))
    store.append_event(make_event(T0 + timedelta(seconds=5), "x1", provider="anthropic"))
    store.append_event(make_event(T0 + timedelta(seconds=5), "x2", org="globex"))

    events = store.list_events("acme", "openai", limit=10)
    assert [e.id for e in events] == ["e3", "e2", "e1"]
    first = events[-1]
    assert first == make_event(T0, "e1", fingerprint="ab" * 32, details={"version": 1, "why": ["a", "b"]})
    assert events[0].fingerprint is None and events[0].details == {}
    assert events[0].at.utcoffset() == timedelta(0)
    assert [e.id for e in store.list_events("acme", "openai", limit=2)] == ["e3", "e2"]
    assert store.list_events("initech", "openai", limit=10) == []


def test_event_cursor_pagination_is_exclusive_and_breaks_ties_by_id(store):
    # Four events share one timestamp: the cursor must not skip or repeat any of them.
    ids = []
    for i in range(7):
        at = T0 + timedelta(seconds=min(i, 3))
        ids.append((at, f"e{i}"))
        store.append_event(make_event(at, f"e{i}"))
    expected = [eid for _, eid in sorted(ids, reverse=True)]

    seen: list[str] = []
    before = None
    while True:
        page = store.list_events("acme", "openai", limit=3, before=before)
        if not page:
            break
        seen += [e.id for e in page]
        before = (page[-1].at, page[-1].id)
    assert seen == expected
    assert len(seen) == len(set(seen)) == 7


def test_event_cursor_accepts_a_non_utc_timestamp(store):
    store.append_event(make_event(T0, "a"))
    store.append_event(make_event(T0 + timedelta(seconds=1), "b"))
    cursor = ((T0 + timedelta(seconds=1)).astimezone(CEST), "b")
    assert [e.id for e in store.list_events("acme", "openai", limit=5, before=cursor)] == ["a"]


# -- units of work ------------------------------------------------------------------------


def _ref(record: CredentialRecord) -> CredentialRef:
    return CredentialRef(
        credential_id=record.credential_id,
        version=record.version,
        fingerprint=record.fingerprint,
        hint=record.hint,
        created_at=record.created_at,
    )


def test_commit_stores_the_integration_its_credentials_and_events_together(store):
    first = make_record(credential_id="c-1")
    item = make_integration(credential=_ref(first))
    saved = store.commit(Write("acme", "openai", None, item, (first,), frozenset(), (make_event(T0, "e1"),)))
    assert saved.revision == 1 and store.get_integration("acme", "openai") == saved
    assert store.get_credential("acme", "openai", "c-1") is not None
    assert [e.id for e in store.list_events("acme", "openai", 10)] == ["e1"]

    second = make_record(credential_id="c-2", version=2)
    replaced = saved.model_copy(update={"credential": _ref(second), "name": "Renamed"})
    again = store.commit(
        Write(
            "acme", "openai", 1, replaced, (second,), frozenset({"c-1"}), (make_event(T0 + timedelta(seconds=1), "e2"),)
        )
    )
    assert again.revision == 2 and store.get_integration("acme", "openai").name == "Renamed"
    assert store.get_credential("acme", "openai", "c-1") is None
    assert store.get_credential("acme", "openai", "c-2") is not None

    assert (
        store.commit(
            Write("acme", "openai", 2, None, (), frozenset({"c-2"}), (make_event(T0 + timedelta(seconds=2), "e3"),))
        )
        is None
    )
    assert store.get_integration("acme", "openai") is None
    assert store.list_credentials(None, 10) == []
    assert [e.id for e in store.list_events("acme", "openai", 10)] == ["e3", "e2", "e1"]


def test_a_commit_that_loses_its_race_leaves_nothing(store):
    first = make_record(credential_id="c-1")
    saved = store.commit(Write("acme", "openai", None, make_integration(credential=_ref(first)), (first,)))
    late = make_record(credential_id="c-late", version=2)
    with pytest.raises(ConflictError):  # a stale revision
        store.commit(
            Write(
                "acme",
                "openai",
                7,
                saved.model_copy(update={"credential": _ref(late)}),
                (late,),
                frozenset({"c-1"}),
                (make_event(T0, "lost"),),
            )
        )
    with pytest.raises(ConflictError):  # an insert of what exists
        store.commit(Write("acme", "openai", None, make_integration(name="Other"), (late,)))
    with pytest.raises(ConflictError):  # a delete at a stale revision
        store.commit(Write("acme", "openai", 7, None, (), frozenset({"c-1"})))
    assert store.get_integration("acme", "openai") == saved
    assert [r.credential_id for r in store.list_credentials(None, 10)] == ["c-1"]
    assert store.list_events("acme", "openai", 10) == []


def test_unsettled_integrations_are_listed_once_old_enough(store):
    old, fresh = T0, T0 + timedelta(hours=1)
    rotation = Rotation(
        credential_id="r", version=2, status="validating", fingerprint="cd" * 32, hint="h", created_at=old
    )
    for provider, status, updated, rot in [
        ("openai", Status.PENDING, old, None),
        ("anthropic", Status.VALIDATING, old, None),
        ("gemini", Status.ACTIVE, old, rotation),
        ("deepseek", Status.ACTIVE, old, None),
        ("gcp", Status.PENDING, fresh, None),
        ("slack", Status.DISABLED, old, rotation),
    ]:
        store.insert_integration(make_integration(provider=provider, status=status, updated_at=updated, rotation=rot))
    found = store.list_unsettled_integrations(T0 + timedelta(minutes=30))
    assert sorted(i.provider for i in found) == ["anthropic", "gemini", "openai"]


def test_orphan_credentials_are_destroyed_once_old_and_unreferenced(store):
    rotation = Rotation(
        credential_id="rot", version=2, status="pending", fingerprint="cd" * 32, hint="h", created_at=T0
    )
    current = make_record(credential_id="cur")
    store.insert_integration(make_integration(credential=_ref(current), rotation=rotation))
    for record in (
        current,
        make_record(credential_id="rot", version=2),
        make_record(credential_id="orphan"),
        make_record(credential_id="young", created_at=T0 + timedelta(hours=1)),
        make_record(provider="gemini", credential_id="cur"),
    ):  # same id, another integration
        store.put_credential(record)
    assert store.delete_orphan_credentials(T0 + timedelta(minutes=1)) == 2
    left = sorted((r.provider, r.credential_id) for r in store.list_credentials(None, 10))
    assert left == [("openai", "cur"), ("openai", "rot"), ("openai", "young")]
