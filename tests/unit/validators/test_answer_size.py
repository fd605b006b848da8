"""Issue 9 item 2: a provider answer is read up to PROVIDER_MAX_RESPONSE_BYTES after
decompression, and decompression itself is bounded, so neither a 1 GiB body nor a gzip
bomb costs more memory than the cap (the functions have 256 MiB)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from shared.settings import Settings
from shared.validators import get_validator
from shared.validators.http import make_client
from tests.support.hostile_provider import HostileProvider
from tests.support.provider_servers import openai_key

from .conftest import api_key

ROOT = Path(__file__).resolve().parents[3]
MIB = 1 << 20

# Runs one OpenAI validation in a fresh process (a failure there must not bloat the test
# run: its address space is capped at 2 GiB) and reports the verdict and the memory it took.
MEASURE = r"""
import json, resource, sys, tracemalloc
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from pydantic import SecretStr
from shared.domain.models import Credential
from shared.settings import Settings
from shared.validators import get_validator
settings = Settings(openai_base_url=sys.argv[1] + "/v1", provider_timeout_seconds=60, validation_timeout_seconds=60,
                    provider_max_attempts=3, provider_backoff_seconds=0.01)
validator = get_validator("openai", settings)
credential = Credential(secret=SecretStr(sys.argv[2]))
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
try:
    result = validator.validate(credential, {})
    verdict = [result.outcome, result.detail]
except BaseException as exc:
    verdict = ["raised", type(exc).__name__]
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
print(json.dumps({"verdict": verdict, "peak": peak, "rss_growth": rss_growth}))
"""


def measure(url: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", MEASURE, url, openai_key()], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "hostile",
    [
        {"mode": "huge"},  # 1 GiB, chunked: only the stream cap stops it
        {"mode": "huge", "declare_length": True},  # 1 GiB announced: refused before reading
        {"mode": "gzip_bomb"},  # ~1 MiB on the wire, 1 GiB inflated
    ],
    ids=["1GiB-chunked", "1GiB-declared", "gzip-bomb"],
)
def test_huge_answers_cost_no_more_memory_than_the_cap(hostile):
    with HostileProvider(**hostile) as server:
        report = measure(server.url)
        attempts = server.requests
    assert report["verdict"] == ["provider_unavailable", "OpenAI sent an answer too large to read"]
    assert attempts == 1  # the same request would get the same answer: not retried
    cap = Settings().provider_max_response_bytes
    assert 1 * MIB <= cap <= 16 * MIB
    assert report["peak"] < 4 * cap + 8 * MIB, report
    assert report["rss_growth"] < 64 * MIB, report


def _answer(body: bytes, status: int = 401, **headers: str) -> HostileProvider:
    return HostileProvider("body", status=status, body=body, headers=headers)


OPENAI_401 = json.dumps(
    {"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}}
).encode()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send it
        ("identity", lambda data: data),
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw", "identity"],
)
def test_compressed_answers_are_decoded(encoding, encode):
    with _answer(encode(OPENAI_401), **{"Content-Encoding": encoding}) as server:
        validator = get_validator("openai", Settings(openai_base_url=server.url + "/v1"))
        try:
            result = validator.validate(api_key(openai_key()), {})
        finally:
            validator.close()
    assert result.outcome == "invalid_credentials"


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress"])
def test_encodings_not_asked_for_are_unreadable(encoding):
    with _answer(OPENAI_401, **{"Content-Encoding": encoding}) as server:
        validator = get_validator("openai", Settings(openai_base_url=server.url + "/v1"))
        try:
            result = validator.validate(api_key(openai_key()), {})
        finally:
            validator.close()
    assert (result.outcome, result.detail) == ("provider_unavailable", "OpenAI sent an answer that could not be read")


def test_corrupt_gzip_is_unreadable():
    with _answer(b"\x1f\x8b\x08\x00garbage-not-deflate", **{"Content-Encoding": "gzip"}) as server:
        validator = get_validator("openai", Settings(openai_base_url=server.url + "/v1"))
        try:
            result = validator.validate(api_key(openai_key()), {})
        finally:
            validator.close()
    assert result.detail == "OpenAI sent an answer that could not be read"


@pytest.mark.parametrize("compress", [False, True])
def test_the_cap_counts_decoded_bytes_exactly(compress):
    cap = 64 * 1024
    padding = cap - len(OPENAI_401)
    at_cap = OPENAI_401[:-1] + b" " * padding + b"}"  # still the 401 JSON, exactly `cap` bytes
    assert len(at_cap) == cap
    for body, outcome in ((at_cap, "invalid_credentials"), (at_cap + b" ", "provider_unavailable")):
        wire, headers = (gzip.compress(body), {"Content-Encoding": "gzip"}) if compress else (body, {})
        with _answer(wire, **headers) as server:
            validator = get_validator(
                "openai", Settings(openai_base_url=server.url + "/v1", provider_max_response_bytes=cap)
            )
            try:
                result = validator.validate(api_key(openai_key()), {})
            finally:
                validator.close()
        assert result.outcome == outcome, len(body)


def test_only_bounded_encodings_are_asked_for():
    client = make_client(Settings())
    try:
        assert client.headers["accept-encoding"] == "gzip, deflate"
    finally:
        client.close()


def test_the_cap_is_a_setting_with_sane_bounds():
    from pydantic import ValidationError

    assert Settings(provider_max_response_bytes=128 * 1024).provider_max_response_bytes == 128 * 1024
    for bad in (0, 1024, 512 * MIB):
        with pytest.raises(ValidationError):
            Settings(provider_max_response_bytes=bad)
