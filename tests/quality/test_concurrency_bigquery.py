"""The concurrency guarantees of test_concurrency.py, on the Google backends: the service on
BigQuery (bqemulator), the Cloud KMS stand-in and the Pub/Sub emulator, over HTTP from several
processes, where a unit of work is one BigQuery job (a statement or a transaction).

- 50 setups and rotations of one org/provider at once leave exactly one integration row (no
  duplicate, no claim left), exactly the ciphertexts it references, the current one decrypting
  (Cloud KMS, associated data) to a submitted key; every accepted request left exactly one
  audit event and one counted attempt, none more (no lost or duplicated record);
- 30 validations at once against VALIDATION_RATE_LIMIT=5/600: exactly as many get past the
  limit as it allows.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from shared.adapters.cloudkms_cipher import CloudKmsCipher
from shared.service.credentials import associated_data
from tests.quality.test_concurrency import ORG, PROCESSES, THREADS, run_in_processes, setups_and_rotations
from tests.support.bqemulator import PROJECT, bq_emulator  # noqa: F401 (fixture)
from tests.support.google_backends import GoogleBackends
from tests.support.kms_server import KmsStandIn
from tests.support.live_service import LiveService
from tests.support.provider_servers import ProviderServers, gemini_key
from tests.support.pubsub_emulator import pubsub_emulator  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def rows(google: GoogleBackends, sql: str) -> list[dict[str, Any]]:
    client = google.bigquery()
    try:
        return [dict(r.items()) for r in client.query(sql.format(d=f"`{PROJECT}.{google.dataset}")).result()]
    finally:
        client.close()


@pytest.fixture
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveService, ProviderServers, Any]]:
    settings = request.param
    bq_url, pubsub_host = request.getfixturevalue("bq_emulator"), request.getfixturevalue("pubsub_emulator")
    with ProviderServers() as providers, KmsStandIn() as kms:
        google = GoogleBackends(bq_url, pubsub_host, kms, PROJECT)
        service = LiveService(tmp_path, providers, google=google, LOG_LEVEL="INFO", **settings)
        try:
            service.start()
            yield service, providers, google
        finally:
            service.stop()
            google.cleanup()


@pytest.mark.timeout(900)  # 50 writers racing on one row: ~1,000 statements, one at a time on bqemulator
@pytest.mark.parametrize("live", [{"VALIDATION_RATE_LIMIT": "100000/600"}], indirect=True)
def test_concurrent_setups_and_rotations_leave_one_integration_and_every_record_once(live) -> None:
    service, providers, google = live
    api_key = service.create_org(ORG)
    client = service.client(api_key)
    submitted, per_process = setups_and_rotations(client, providers)

    # bqemulator runs one statement at a time: 50 writers racing on one row take it minutes.
    try:
        answers = run_in_processes(service.url, api_key, per_process, timeout=800)
    except Exception:
        print(service.logs()[-6000:])  # what the server said, for the report
        raise
    assert len(answers) == PROCESSES * THREADS
    assert all(status in (202, 409) for status, _ in answers), [a for a in answers if a[0] not in (202, 409)]
    accepted = sum(1 for status, _ in answers if status == 202)
    assert accepted >= PROCESSES

    client.wait_for(
        f"/{ORG}/openai",
        lambda b: b["status"] == "active" and (b["rotation"] is None or b["rotation"]["status"] == "failed"),
        timeout=120,
    )
    time.sleep(1.0)
    final = client.get(f"/{ORG}/openai").json()

    owner = f"WHERE org_slug = '{ORG}' AND provider = 'openai'"
    (row,) = rows(google, "SELECT * FROM {d}.org_integrations` " + owner)  # one row: no duplicate, no claim
    stored = {r["credential_id"]: r for r in rows(google, "SELECT * FROM {d}.org_credentials` " + owner)}
    referenced = {row["credential_id"]} | ({json.loads(row["rotation"])["credential_id"]} if row["rotation"] else set())
    assert set(stored) == referenced, "orphaned or missing ciphertext"
    assert final["credential"]["version"] == row["credential_version"]

    current = stored[row["credential_id"]]
    cipher = CloudKmsCipher(google.key_name, endpoint=google.kms.endpoint)
    ad = associated_data(ORG, "openai", current["version"], current["credential_id"])
    plaintext = cipher.decrypt(current["ciphertext"], ad).decode()
    assert plaintext in submitted
    assert hashlib.sha256(plaintext.encode()).hexdigest()[:8] == final["credential"]["fingerprint"]

    # Every accepted request committed once: one audit event, one counted attempt, no more.
    events = rows(google, "SELECT action, actor FROM {d}.audit_events` " + owner)
    changes = [e for e in events if e["action"] in ("setup", "rotate") and e["actor"] != "system"]
    attempts = rows(google, "SELECT attempt_id FROM {d}.validation_attempts` " + owner)
    assert len(changes) == len(attempts) == accepted + 1, (len(changes), len(attempts), accepted)


@pytest.mark.parametrize("live", [{"VALIDATION_RATE_LIMIT": "5/600"}], indirect=True)
def test_concurrent_validations_respect_the_rate_limit_exactly(live) -> None:
    service, providers, _ = live
    api_key = service.create_org(ORG)
    key = providers.gemini.set(gemini_key(), "valid")
    setup = service.client(api_key).post(f"/{ORG}/gemini/setup?wait=true", json={"credential": key})
    assert setup.status_code == 200, setup.text
    jobs = [("POST", f"/{ORG}/gemini/validate", {}) for _ in range(THREADS)]

    answers = run_in_processes(service.url, api_key, [jobs, jobs, jobs])

    passed = [status for status, _ in answers if status != 429]
    assert all(status == 200 for status in passed), answers
    assert len(passed) == 4, f"{len(passed)} validations got past a limit of 5 (setup used one)"
    assert all('"rate_limited"' in text for status, text in answers if status == 429)
