"""Isolation between orgs and tampering with stored ciphertext, over HTTP on the live server.

- Every documented operation with another org's key: 403 forbidden; without a key or with an
  unknown one: 401; nothing changes. No answer to one org ever shows another org's data.
- A ciphertext altered, or moved to another org, provider or version (the SQLite row edited
  directly), or an older ciphertext of the same org, provider and version (a failed rotation's)
  swapped in, does not decrypt (associated data), with the embedded keyring and with the Cloud
  KMS cipher (gRPC stand-in): validate answers the catalogue's 500 `internal` and discloses
  nothing; with the row restored it validates again.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.kms_server import KmsStandIn
from tests.support.live_service import LiveService
from tests.support.openapi import assert_conforms, operations
from tests.support.provider_servers import ProviderServers, gemini_key, openai_key

pytestmark = pytest.mark.slow

A, B = "alpha_org", "beta_org"
BASE = "/api/v1/integrations"
INTERNAL = {"error": {"code": "internal", "message": "Internal error"}}


@pytest.fixture(scope="module")
def providers() -> Iterator[ProviderServers]:
    with ProviderServers() as servers:
        yield servers


@pytest.fixture(scope="module", params=["local", "kms"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, providers: ProviderServers
) -> Iterator[dict[str, Any]]:
    """A live server (embedded keyring, or Cloud KMS through the stand-in) with two orgs, each
    with OpenAI and Gemini set up and validated."""
    kms = None
    extra: dict[str, str] = {}
    if request.param == "kms":
        kms = KmsStandIn().start()
        extra = {"KMS_BACKEND": "gcp", "KMS_KEY_NAME": kms.add_key(), "KMS_ENDPOINT": kms.endpoint}
    live = LiveService(
        tmp_path_factory.mktemp(f"isolation-{request.param}"), providers, VALIDATION_RATE_LIMIT="1000/600", **extra
    ).start()
    try:
        keys = {A: live.create_org(A), B: live.create_org(B)}
        secrets: dict[str, list[str]] = {A: [], B: []}
        for org in (A, B):
            client = live.client(keys[org])
            for provider, make in (("openai", openai_key), ("gemini", gemini_key)):
                key = getattr(providers, provider).set(make(), "valid")
                secrets[org].append(key)
                body = {"credential": key, "name": f"{org} {provider} private name"}
                answer = client.post(f"/{org}/{provider}/setup?wait=true", json=body)
                assert answer.status_code == 200 and answer.json()["status"] == "active", answer.text
        if kms is not None:
            assert kms.calls["Encrypt"] >= 4, "the server did not encrypt through the KMS stand-in"
        yield {"live": live, "keys": keys, "secrets": secrets, "cipher": request.param, "kms": kms}
    finally:
        live.stop()
        if kms is not None:
            kms.stop()


def request_for(operation: Any, org: str) -> tuple[str, str, dict[str, Any]]:
    path = operation.template.replace("{org}", org).replace("{provider}", "openai")
    kwargs: dict[str, Any] = {}
    if operation.method in ("POST", "PATCH") and operation.operation_id in (
        "setup_integration",
        "rotate_credential",
        "update_integration",
    ):
        kwargs["json"] = {"name": "intruder"} if operation.method == "PATCH" else {"credential": openai_key()}
    return operation.method, path, kwargs


def snapshot(live: LiveService, key: str, org: str) -> str:
    client = live.client(key)
    return json.dumps([client.get(f"/{org}").json(), client.get(f"/{org}/openai/events?limit=500").json()])


def test_other_orgs_key_is_forbidden_and_no_key_is_unauthorized_everywhere(world: dict[str, Any]) -> None:
    live, keys = world["live"], world["keys"]
    before = snapshot(live, keys[B], B)
    seen = 0
    for operation in operations():
        method, path, kwargs = request_for(operation, B)
        for key, status, code in (
            (keys[A], 403, "forbidden"),
            (None, 401, "unauthorized"),
            ("itg_" + "x" * 43, 401, "unauthorized"),
        ):
            answer = live.client(key).request(method, path.removeprefix(BASE), **kwargs)
            assert answer.status_code == status, (operation.operation_id, key is None, answer.text)
            assert answer.json()["error"]["code"] == code
            assert_conforms(method, path, answer.status_code, answer.json(), dict(answer.headers))
            seen += 1
    assert seen == 3 * len(operations()) >= 30
    assert snapshot(live, keys[B], B) == before, "a refused request changed the other org's data"


def test_no_answer_shows_another_orgs_data(world: dict[str, Any]) -> None:
    live, keys = world["live"], world["keys"]
    for org, other in ((A, B), (B, A)):
        client = live.client(keys[org])
        own = client.get(f"/{org}").json()
        theirs = live.client(keys[other]).get(f"/{other}").json()
        marks = {other}
        for item in theirs["integrations"]:
            if item["credential"]:
                marks |= {item["credential"]["fingerprint"], item["credential"]["hint"], item["name"]}
        answers = [json.dumps(own)]
        for provider in ("openai", "gemini"):
            answers.append(client.get(f"/{org}/{provider}").text)
            answers.append(client.get(f"/{org}/{provider}/events?limit=500").text)
        leaked = [mark for mark in marks for text in answers if mark in text]
        assert leaked == [], f"{org} sees {other}'s data"
        assert {i["org"] for i in own["integrations"]} == {org}


# ---------------------------------------------------------------- tampering


class Rows:
    """Direct access to the SQLite file under the live server."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        self.db = sqlite3.connect(self.path, timeout=30)
        return self.db

    def __exit__(self, *exc: Any) -> None:
        self.db.commit()
        self.db.close()


def credential_row(db: sqlite3.Connection, org: str, provider: str) -> tuple[str, int, bytes]:
    return db.execute(
        "SELECT credential_id, version, ciphertext FROM org_credentials WHERE org_slug = ? AND provider = ?",
        (org, provider),
    ).fetchone()


def tamper_altered(db: sqlite3.Connection) -> tuple[str, str]:
    credential_id, _, blob = credential_row(db, A, "openai")
    altered = bytearray(blob)
    altered[len(altered) // 2] ^= 0x01
    db.execute("UPDATE org_credentials SET ciphertext = ? WHERE credential_id = ?", (bytes(altered), credential_id))
    return A, "openai"


def tamper_other_org(db: sqlite3.Connection) -> tuple[str, str]:
    _, _, blob = credential_row(db, A, "openai")
    credential_id, _, _ = credential_row(db, B, "openai")
    db.execute("UPDATE org_credentials SET ciphertext = ? WHERE credential_id = ?", (blob, credential_id))
    return B, "openai"


def tamper_other_provider(db: sqlite3.Connection) -> tuple[str, str]:
    _, _, blob = credential_row(db, A, "openai")
    credential_id, _, _ = credential_row(db, A, "gemini")
    db.execute("UPDATE org_credentials SET ciphertext = ? WHERE credential_id = ?", (blob, credential_id))
    return A, "gemini"


def tamper_other_version(db: sqlite3.Connection) -> tuple[str, str]:
    credential_id, version, _ = credential_row(db, A, "openai")
    db.execute("UPDATE org_credentials SET version = ? WHERE credential_id = ?", (version + 1, credential_id))
    db.execute(
        "UPDATE org_integrations SET credential_version = ? WHERE org_slug = ? AND provider = 'openai'",
        (version + 1, A),
    )
    return A, "openai"


@pytest.mark.parametrize(
    "tamper",
    [tamper_altered, tamper_other_org, tamper_other_provider, tamper_other_version],
    ids=lambda f: f.__name__.removeprefix("tamper_"),
)
def test_tampered_or_moved_ciphertext_does_not_decrypt(world: dict[str, Any], tamper: Any) -> None:
    live, keys = world["live"], world["keys"]
    db_path = live.data_dir / "integrations.db"
    with Rows(db_path) as db:
        saved_credentials = db.execute("SELECT rowid, * FROM org_credentials").fetchall()
        saved_integrations = db.execute("SELECT rowid, credential_version FROM org_integrations").fetchall()
        org, provider = tamper(db)
    client = live.client(keys[org])
    answer = client.post(f"/{org}/{provider}/validate")
    assert (answer.status_code, answer.json()) == (500, INTERNAL), answer.text
    assert_conforms("POST", f"{BASE}/{org}/{provider}/validate", 500, answer.json(), dict(answer.headers))
    # The integration itself is untouched and still readable.
    assert client.get(f"/{org}/{provider}").json()["status"] == "active"

    with Rows(db_path) as db:  # restore: the same request validates again
        columns = [c[1] for c in db.execute("PRAGMA table_info(org_credentials)")]
        for row in saved_credentials:
            assignments = ", ".join(f"{c} = ?" for c in columns)
            db.execute(f"UPDATE org_credentials SET {assignments} WHERE rowid = ?", (*row[1:], row[0]))
        for rowid, version in saved_integrations:
            db.execute("UPDATE org_integrations SET credential_version = ? WHERE rowid = ?", (version, rowid))
    assert client.post(f"/{org}/{provider}/validate").json()["status"] == "active"
    if world["kms"] is not None:
        assert world["kms"].calls["Decrypt"] >= 2

    logs = live.logs()
    assert not [s for secrets in world["secrets"].values() for s in secrets if s in logs]
    assert '"message": "request failed"' in logs and '"code": "internal"' in logs  # logged, without detail


def test_an_older_ciphertext_of_the_same_version_does_not_decrypt(
    world: dict[str, Any], providers: ProviderServers
) -> None:
    """Versions repeat after a failed rotation; ciphertexts are bound to the credential id, so
    the failed rotation's ciphertext swapped into the row of the next one does not decrypt."""
    live, keys = world["live"], world["keys"]
    client = live.client(keys[A])
    rejected = providers.openai.set(openai_key(), "invalid")
    accepted = providers.openai.set(openai_key(), "valid")
    world["secrets"][A] += [rejected, accepted]
    failed = client.post(f"/{A}/openai/rotate?wait=true", json={"credential": rejected}).json()
    assert failed["rotation"]["status"] == "failed", failed
    db_path = live.data_dir / "integrations.db"
    with Rows(db_path) as db:
        [rotation] = db.execute(
            "SELECT rotation FROM org_integrations WHERE org_slug = ? AND provider = 'openai'", (A,)
        ).fetchone()
        old_id, old_blob = db.execute(
            "SELECT credential_id, ciphertext FROM org_credentials WHERE credential_id = ?",
            (json.loads(rotation)["credential_id"],),
        ).fetchone()
    rotated = client.post(f"/{A}/openai/rotate?wait=true", json={"credential": accepted}).json()
    assert rotated["status"] == "active" and rotated["credential"]["version"] == failed["rotation"]["version"]
    with Rows(db_path) as db:
        new_id, version, new_blob = credential_row(db, A, "openai")
        assert new_id != old_id and version == rotated["credential"]["version"]
        db.execute("UPDATE org_credentials SET ciphertext = ? WHERE credential_id = ?", (old_blob, new_id))

    answer = client.post(f"/{A}/openai/validate")
    assert (answer.status_code, answer.json()) == (500, INTERNAL), answer.text
    assert client.get(f"/{A}/openai").json()["status"] == "active"
    with Rows(db_path) as db:
        db.execute("UPDATE org_credentials SET ciphertext = ? WHERE credential_id = ?", (new_blob, new_id))
    assert client.post(f"/{A}/openai/validate").json()["status"] == "active"
