"""Issue 9 item 1: a GCP key file with a huge RSA key must not freeze the process.

`check_format` is cheap: it reads the modulus size from the key's DER and refuses more
than 4096 bits (or fewer than 2048) without loading the key. Loading (and checking) the
key is `check_key`, run later; the loaded key is kept on the Credential, so it is parsed
once per Credential object.

Huge keys for the tests are real, valid RSA keys built in microseconds from known
Mersenne primes: loading one with cryptography costs what Google-style random keys of
that size cost (~15 s for 8676 bits, minutes for 15636 on a slow machine), which is what
check_format must not pay.
"""

from __future__ import annotations

import math
import time

import pytest

from shared.domain.errors import InvalidFormatError
from shared.domain.models import Credential
from shared.settings import Settings
from shared.validators import get_validator
from tests.support.provider_servers import private_key_pem, rsa_private_key, service_account_info

MERSENNE_EXPONENTS = (3217, 4253, 4423, 9689, 9941, 11213)  # 2**p - 1 is prime for each


def mersenne_key(p_exp: int, q_exp: int, pkcs1: bool = False) -> str:
    """A valid RSA private key PEM with modulus (2**p_exp - 1) * (2**q_exp - 1)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    p, q, e = 2**p_exp - 1, 2**q_exp - 1, 65537
    d = pow(e, -1, (p - 1) * (q - 1) // math.gcd(p - 1, q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q))
    key = numbers.private_key(unsafe_skip_rsa_key_validation=True)  # building it must not pay the check either
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _der_int(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return b"\x02" + _der_len(len(body)) + body


def _der_len(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def shaped_key(bits: int) -> str:
    """A PKCS#1 structure whose modulus has exactly `bits` bits (not a usable key)."""
    import base64

    fields = b"".join(_der_int(v) for v in (0, 2**bits - 1, 65537, 3, 5, 7, 11, 13, 17))
    der = b"\x30" + _der_len(len(fields)) + fields
    lines = "\n".join(base64.b64encode(der).decode()[i : i + 64] for i in range(0, len(base64.b64encode(der)), 64))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{lines}\n-----END RSA PRIVATE KEY-----\n"


@pytest.fixture
def gcp():
    validator = get_validator("gcp", Settings())
    yield validator
    validator.close()


def with_key(pem: str) -> Credential:
    return Credential.service_account({**service_account_info(), "private_key": pem})


@pytest.mark.parametrize(("p_exp", "q_exp"), [(4253, 4423), (4423, 11213)], ids=["8676-bit", "15636-bit"])
def test_a_huge_key_is_refused_by_the_cheap_format_check(gcp, p_exp, q_exp):
    credential = with_key(mersenne_key(p_exp, q_exp))
    started = time.monotonic()
    with pytest.raises(InvalidFormatError, match="^Invalid API key format: private_key$"):
        gcp.check_format(credential, {})
    result = gcp.validate(credential, {})  # the queued path refuses it as cheaply
    assert time.monotonic() - started < 0.5
    assert (result.outcome, result.detail) == ("invalid_credentials", "Invalid API key format: private_key")


@pytest.mark.parametrize(("bits", "accepted"), [(2047, False), (2048, True), (4096, True), (4097, False)])
def test_the_modulus_bounds_are_read_without_loading(gcp, bits, accepted):
    credential = with_key(shaped_key(bits))
    if accepted:
        gcp.check_format(credential, {})
        with pytest.raises(InvalidFormatError, match="private_key"):
            gcp.check_key(credential, {})  # the structure's size is fine; it is no key
    else:
        with pytest.raises(InvalidFormatError, match="private_key"):
            gcp.check_format(credential, {})


def test_modulus_size_of_both_pem_formats(gcp):
    from cryptography.hazmat.primitives import serialization

    from shared.validators.rsa_size import rsa_private_der

    key = rsa_private_key()
    pkcs1 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode()  # fmt: skip
    assert rsa_private_der(private_key_pem(key))[1] == 2048
    assert rsa_private_der(pkcs1)[1] == 2048
    assert rsa_private_der(mersenne_key(4253, 4423, pkcs1=True))[1] == 4253 + 4423
    for pem in (private_key_pem(key), pkcs1):
        credential = with_key(pem)
        gcp.check_format(credential, {})
        gcp.check_key(credential, {})


@pytest.mark.parametrize(
    "pem",
    [
        "-----BEGIN PRIVATE KEY-----" + " " * 60_000,  # unterminated, and linear to refuse
        "-----BEGIN PRIVATE KEY-----\n" + " \n" * 30_000 + "-----END PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nMIIB\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\nMIQAAAAA\n-----END PRIVATE KEY-----",  # a length past the end
    ],
)
def test_malformed_pems_are_refused_quickly(gcp, pem):
    started = time.monotonic()
    with pytest.raises(InvalidFormatError, match="private_key"):
        gcp.check_format(with_key(pem), {})
    assert time.monotonic() - started < 0.5


def count_loads(monkeypatch) -> list[str]:
    """From now on, records each private key cryptography loads (and checks)."""
    from cryptography.hazmat.primitives import serialization

    calls: list[str] = []
    for name in ("load_der_private_key", "load_pem_private_key"):
        real = getattr(serialization, name)
        monkeypatch.setattr(
            serialization, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k)
        )
    return calls


def test_the_key_is_parsed_once_per_credential(provider_servers, monkeypatch):
    validator = get_validator("gcp", provider_servers.settings())
    try:
        info = provider_servers.gcp_service_account("valid")
        loads = count_loads(monkeypatch)
        request = Credential.service_account(info)  # what a setup request holds
        validator.check_format(request, {})
        assert loads == []  # the cheap check loads nothing
        validator.check_key(request, {})
        assert len(loads) == 1
        assert validator.validate(request, {}).outcome == "valid"  # setup?wait: same object
        assert len(loads) == 1
        queued = Credential.service_account(info)  # what the validator decrypts: a fresh object
        assert validator.validate(queued, {}).outcome == "valid"
        assert len(loads) == 2
        assert "PRIVATE KEY" not in repr(request) and "_memo" not in repr(request)
        assert request == queued  # the cache never makes two credentials differ
    finally:
        validator.close()
