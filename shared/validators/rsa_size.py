"""An RSA private key's DER and modulus size, read from its PEM without loading the key.

Loading a key with cryptography checks it (primality of p and q), which costs ~5 s of
CPU for an 8192-bit key and ~40 s for a 16384-bit one, holding the GIL. Reading the
modulus length from the DER structure costs microseconds, so oversized keys are refused
before that work. Only what Google issues is read: PKCS#8 (`PRIVATE KEY`) wrapping an
rsaEncryption key, or PKCS#1 (`RSA PRIVATE KEY`). Anything else raises ValueError.
The caller then loads exactly this DER, so the key it checks is the key measured here.
"""

from __future__ import annotations

import base64
import binascii

RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")  # OID 1.2.840.113549.1.1.1
SEQUENCE, INTEGER, OCTET_STRING, OID = 0x30, 0x02, 0x04, 0x06


def _element(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(start, end) of the content of the DER element at `pos`, which must have `tag`."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise ValueError("unexpected DER element")
    length, pos = data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length, pos = int.from_bytes(data[pos : pos + count], "big"), pos + count
    if pos + length > len(data):
        raise ValueError("DER element overruns its container")
    return pos, pos + length


def _whole(der: bytes) -> int:
    """Start of the content of the one SEQUENCE `der` must be (no trailing bytes)."""
    start, end = _element(der, 0, SEQUENCE)
    if end != len(der):
        raise ValueError("trailing bytes after the key")
    return start


def _pkcs1_modulus_bits(der: bytes, pos: int = 0) -> int:
    """RSAPrivateKey ::= SEQUENCE { version INTEGER, modulus INTEGER, ... }"""
    start = _whole(der) if pos == 0 else _element(der, pos, SEQUENCE)[0]
    _, after_version = _element(der, start, INTEGER)
    first, end = _element(der, after_version, INTEGER)
    modulus = der[first:end]
    if not modulus or modulus[0] & 0x80:
        raise ValueError("negative or empty modulus")
    return int.from_bytes(modulus, "big").bit_length()


def _pkcs8_modulus_bits(der: bytes) -> int:
    """PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING, ... }"""
    start = _whole(der)
    _, pos = _element(der, start, INTEGER)
    algorithm, after_algorithm = _element(der, pos, SEQUENCE)
    oid_start, oid_end = _element(der, algorithm, OID)
    if der[oid_start:oid_end] != RSA_ENCRYPTION:
        raise ValueError("not an RSA key")
    key_start, _ = _element(der, after_algorithm, OCTET_STRING)
    return _pkcs1_modulus_bits(der, key_start)


def rsa_private_der(pem: str) -> tuple[bytes, int]:
    """(DER, modulus bit length) of the first PEM block of `pem`; ValueError if unreadable."""
    # str.find, not a regex: linear whatever the input (a 64 KiB run of spaces included).
    begin = pem.find("-----BEGIN ")
    label_end = pem.find("-----", begin + 11) if begin >= 0 else -1
    if label_end < 0:
        raise ValueError("no PEM block")
    label = pem[begin + 11 : label_end]
    body_end = pem.find(f"-----END {label}-----", label_end + 5)
    if body_end < 0:
        raise ValueError("unterminated PEM block")
    try:
        # Base64 lines only: an encrypted PKCS#1 key's headers ("Proc-Type: ...") fail here.
        der = base64.b64decode("".join(pem[label_end + 5 : body_end].split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("bad base64") from None
    if label == "PRIVATE KEY":
        return der, _pkcs8_modulus_bits(der)
    if label == "RSA PRIVATE KEY":
        return der, _pkcs1_modulus_bits(der)
    raise ValueError("not an unencrypted RSA private key")
