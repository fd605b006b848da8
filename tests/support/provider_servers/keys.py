"""Test keys, made at test time: API keys shaped like each provider's, RSA keys and
service-account key files as Google issues them. They mean nothing anywhere else."""

from __future__ import annotations

import functools
import secrets
import string
from typing import Any

_KEY_CHARS = string.ascii_letters + string.digits + "_-"
_ALNUM = string.ascii_letters + string.digits


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def openai_key(kind: str = "proj") -> str:
    """A key shaped like OpenAI's: `sk-<kind>-` body around the T3BlbkFJ marker; kind '' = legacy."""
    if not kind:
        return "sk-" + _random(_ALNUM, 20) + "T3BlbkFJ" + _random(_ALNUM, 20)
    return f"sk-{kind}-" + _random(_KEY_CHARS, 74) + "T3BlbkFJ" + _random(_KEY_CHARS, 74)


def anthropic_key(admin: bool = False) -> str:
    prefix = "sk-ant-admin01-" if admin else "sk-ant-api03-"
    return prefix + _random(_KEY_CHARS, 93) + "AA"


def gemini_key() -> str:
    return "AIza" + _random(_KEY_CHARS, 35)


def deepseek_key() -> str:
    return "sk-" + secrets.token_hex(16)


@functools.lru_cache(maxsize=4)
def rsa_private_key(slot: int = 0) -> Any:
    """An RSA-2048 key made at test time (cached per process: generation costs ~100 ms)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account_info(
    project_id: str = "billing-test-4821",
    token_uri: str = "https://oauth2.googleapis.com/token",
    account: str = "cost-reader",
    key_slot: int = 0,
) -> dict[str, Any]:
    """A service-account key file as Google issues it, with a key made at test time."""
    domain, _, name = project_id.rpartition(":")
    email_domain = f"{name}.{domain}" if domain else name
    email = f"{account}@{email_domain}.iam.gserviceaccount.com"
    client_id = str(secrets.randbelow(10**20) + 10**20)
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_key_pem(rsa_private_key(key_slot)),
        "client_email": email,
        "client_id": client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email.replace('@', '%40')}",
        "universe_domain": "googleapis.com",
    }
