"""Concurrency over HTTP from several processes against one live server (threads in one server
process, like a function instance with concurrency > 1, all sharing one SQLite file).

- 50 setups and rotations of one org/provider at once (5 processes x 10 threads) end with
  exactly one integration and exactly the credentials it references, the current one
  decrypting (keyring, associated data) to a submitted key whose fingerprint is the one shown.
- 30 validations at once from 3 processes against VALIDATION_RATE_LIMIT=5/600: exactly as many
  get past the limit as it allows.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from shared.adapters.local_keyring import LocalKeyring
from shared.service.credentials import associated_data
from tests.support.live_service import LiveService
from tests.support.provider_servers import ProviderServers, gemini_key, openai_key

pytestmark = pytest.mark.slow

ORG = "race_org"
PROCESSES = 5
THREADS = 10


def fire(
    url: str, api_key: str, jobs: list[tuple[str, str, dict[str, Any]]], start_at: float, timeout: float = 60
) -> list[tuple[int, str]]:
    """One worker process: its jobs on THREADS threads, all released at `start_at` (wall clock)."""
    barrier = threading.Barrier(len(jobs))

    def one(job: tuple[str, str, dict[str, Any]]) -> tuple[int, str]:
        method, path, body = job
        with httpx.Client(base_url=url, headers={"X-API-Key": api_key}, timeout=timeout) as client:
            barrier.wait()
            time.sleep(max(0.0, start_at - time.time()))
            response = client.request(method, path, json=body or None)
            return response.status_code, response.text[:300]

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(one, jobs))


def run_in_processes(
    url: str, api_key: str, per_process: list[list[tuple[str, str, dict[str, Any]]]], timeout: float = 60
) -> list[tuple[int, str]]:
    start_at = time.time() + 3.0  # time for the spawned interpreters to import and connect
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(per_process)) as pool:
        results = pool.starmap(fire, [(url, api_key, jobs, start_at, timeout) for jobs in per_process])
    return [answer for answers in results for answer in answers]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveService, ProviderServers]]:
    with ProviderServers() as providers:
        service = LiveService(tmp_path, providers, VALIDATION_RATE_LIMIT="100000/600", LOG_LEVEL="INFO").start()
        try:
            yield service, providers
        finally:
            service.stop()


def setups_and_rotations(client: Any, providers: ProviderServers) -> tuple[set[str], list[list[Any]]]:
    """An active OpenAI integration, then PROCESSES x THREADS requests, setups and rotations in
    turn, each with a new valid key: (every key submitted, the requests of each process)."""
    first = providers.openai.set(openai_key(), "valid")
    assert client.post(f"/{ORG}/openai/setup?wait=true", json={"credential": first}).status_code == 200
    submitted = {first}
    per_process = []
    for p in range(PROCESSES):
        jobs = []
        for t in range(THREADS):
            key = providers.openai.set(openai_key(), "valid")
            submitted.add(key)
            jobs.append(("POST", f"/{ORG}/openai/{'setup' if (p + t) % 2 == 0 else 'rotate'}", {"credential": key}))
        per_process.append(jobs)
    return submitted, per_process


def test_concurrent_setups_and_rotations_leave_one_integration_and_its_credentials(live) -> None:
    service, providers = live
    api_key = service.create_org(ORG)
    client = service.client(api_key)
    submitted, per_process = setups_and_rotations(client, providers)
    answers = run_in_processes(service.url, api_key, per_process)
    statuses = sorted({status for status, _ in answers})
    assert len(answers) == PROCESSES * THREADS
    assert all(status in (202, 409) for status, _ in answers), [a for a in answers if a[0] not in (202, 409)]
    assert sum(1 for status, _ in answers if status == 202) >= PROCESSES, statuses

    # Let the queued validations settle (superseded ones are ignored by the validator).
    final = client.wait_for(
        f"/{ORG}/openai",
        lambda b: b["status"] == "active" and (b["rotation"] is None or b["rotation"]["status"] == "failed"),
        timeout=60,
    )
    time.sleep(0.5)
    final = client.get(f"/{ORG}/openai").json()

    db = sqlite3.connect(service.data_dir / "integrations.db")
    rows = db.execute(
        "SELECT credential_id, credential_version, fingerprint, rotation FROM org_integrations "
        "WHERE org_slug = ? AND provider = 'openai'",
        (ORG,),
    ).fetchall()
    assert len(rows) == 1, rows
    credential_id, version, fingerprint, rotation = rows[0]
    stored = {
        row[0]: row
        for row in db.execute(
            "SELECT credential_id, version, ciphertext FROM org_credentials WHERE org_slug = ? AND provider = 'openai'",
            (ORG,),
        )
    }
    db.close()
    referenced = {credential_id} | ({json.loads(rotation)["credential_id"]} if rotation else set())
    assert set(stored) == referenced, "orphaned or missing ciphertext"
    assert final["credential"]["version"] == version and final["credential"]["fingerprint"] == fingerprint[:8]

    plaintext = (
        LocalKeyring(service.data_dir / "keyring.json")
        .decrypt(stored[credential_id][2], associated_data(ORG, "openai", version, credential_id))
        .decode()
    )
    assert plaintext in submitted
    assert hashlib.sha256(plaintext.encode()).hexdigest()[:8] == final["credential"]["fingerprint"]


def test_concurrent_validations_respect_the_rate_limit_exactly(tmp_path: Path) -> None:
    limit = 5
    with ProviderServers() as providers:
        service = LiveService(tmp_path, providers, VALIDATION_RATE_LIMIT=f"{limit}/600", LOG_LEVEL="INFO").start()
        try:
            api_key = service.create_org(ORG)
            key = providers.gemini.set(gemini_key(), "valid")
            # A fresh org/provider: the setup is its first attempt of the window.
            setup = service.client(api_key).post(f"/{ORG}/gemini/setup?wait=true", json={"credential": key})
            assert setup.status_code == 200, setup.text
            jobs = [("POST", f"/{ORG}/gemini/validate", {}) for _ in range(THREADS)]
            answers = run_in_processes(service.url, api_key, [jobs, jobs, jobs])
        finally:
            service.stop()
    assert len(answers) == 30
    passed = [status for status, _ in answers if status != 429]
    assert all(status == 200 for status in passed), answers
    assert len(passed) == limit - 1, f"{len(passed)} validations got past a limit of {limit} (setup used one)"
    assert all('"rate_limited"' in text for status, text in answers if status == 429)
