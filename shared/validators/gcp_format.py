"""Strict checks of an uploaded GCP service-account key file (no network).

Errors say which field is wrong, never its value. `token_uri` must equal the
`gcp_token_uri` setting: a key file naming another URL would make the server send a
signed assertion wherever the uploader likes.

The private key is checked in two steps: its modulus size (2048 to 4096 bits) is read
from the DER with the other fields (cheap, `check_service_account`); loading it, which
checks the key (about 0.05 s of CPU at 2048 bits, 0.5 s at 4096, 15 s at 8192), comes later, once
per Credential object (`private_key_of`).
"""

from __future__ import annotations

import re
from typing import Any

from shared.domain.errors import BadRequestError, InvalidFormatError
from shared.domain.models import Credential
from shared.settings import Settings

# Project ids: 6-30 chars, lowercase letter first; legacy domain-scoped ids "example.com:my-project".
PROJECT_ID = re.compile(
    r"(?:(?P<domain>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+):)?(?P<name>[a-z][a-z0-9-]{4,28}[a-z0-9])"
)
ACCOUNT_ID = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
PRIVATE_KEY_ID = re.compile(r"[0-9a-f]{40}")
CLIENT_ID = re.compile(r"[0-9]{1,32}")
# Same shape the registry enforces (configs/providers.yml).
BILLING_TABLE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_$-]{1,1024}")
PREFIX = "Invalid API key format"


def _bad(field: str) -> InvalidFormatError:
    return InvalidFormatError(f"{PREFIX}: {field}")


def email_domain(project_id: str) -> str:
    """The service-account email domain of a project id (domain-scoped ids flip around)."""
    match = PROJECT_ID.fullmatch(project_id)
    assert match is not None
    domain, name = match.group("domain"), match.group("name")
    return f"{name}.{domain}" if domain else name


def client_email_matches(email: str, project_id: str) -> bool:
    """`<account>@<project>.iam.gserviceaccount.com`, or a Google default SA of that project."""
    escaped = re.escape(email_domain(project_id))
    return bool(
        re.fullmatch(rf"{ACCOUNT_ID}@{escaped}\.iam\.gserviceaccount\.com", email)
        or re.fullmatch(rf"{escaped}@appspot\.gserviceaccount\.com", email)
        or re.fullmatch(r"[0-9]{1,20}-compute@developer\.gserviceaccount\.com", email)
    )


def load_service_account(credential: Credential) -> dict[str, Any]:
    if credential.kind != "service_account":
        raise InvalidFormatError(f"{PREFIX}: expected a service account key file")
    try:
        info = credential.as_service_account()
    except (ValueError, TypeError):
        raise InvalidFormatError(f"{PREFIX}: not JSON") from None
    if not isinstance(info, dict):
        raise InvalidFormatError(f"{PREFIX}: not a JSON object")
    return info


# Google issues 2048-bit keys; above 4096 bits loading (checking) a key costs seconds of CPU.
MIN_KEY_BITS, MAX_KEY_BITS = 2048, 4096


def private_key_der(pem: Any) -> bytes:
    """The key's DER once its modulus size is known to be acceptable (cheap: nothing is loaded)."""
    from .rsa_size import rsa_private_der

    if not isinstance(pem, str) or "PRIVATE KEY-----" not in pem:
        raise _bad("private_key")
    try:
        der, bits = rsa_private_der(pem)
    except ValueError:
        raise _bad("private_key") from None
    if not MIN_KEY_BITS <= bits <= MAX_KEY_BITS:
        raise _bad("private_key")
    return der


def load_private_key(pem: Any) -> Any:
    """The RSA private key of a PEM string, loaded and checked (the expensive part: milliseconds
    for 2048 bits, half a second for 4096); raises InvalidFormatError otherwise."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    der = private_key_der(pem)  # exactly the bytes measured: the key checked is the key sized
    try:
        key = load_der_private_key(der, password=None)
    except Exception:  # noqa: BLE001 - ValueError, TypeError, UnsupportedAlgorithm and friends
        raise _bad("private_key") from None
    if not isinstance(key, rsa.RSAPrivateKey) or not MIN_KEY_BITS <= key.key_size <= MAX_KEY_BITS:
        raise _bad("private_key")
    return key


def private_key_of(credential: Credential) -> Any:
    """The credential's loaded private key, parsed once per Credential object."""
    return credential.memo(
        "gcp.private_key", lambda: load_private_key(load_service_account(credential).get("private_key"))
    )


def check_service_account(credential: Credential, config: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The parsed key file when every field is as Google issues it. Cheap: the private key's
    size is read from its DER, the key itself is loaded later (`private_key_of`)."""
    info = load_service_account(credential)
    if info.get("type") != "service_account":
        raise _bad("type")
    project_id = info.get("project_id")
    if not isinstance(project_id, str) or not PROJECT_ID.fullmatch(project_id):
        raise _bad("project_id")
    if not isinstance(info.get("private_key_id"), str) or not PRIVATE_KEY_ID.fullmatch(info["private_key_id"]):
        raise _bad("private_key_id")
    email = info.get("client_email")
    if not isinstance(email, str) or not client_email_matches(email, project_id):
        raise _bad("client_email")
    client_id = info.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise _bad("client_id")
    if info.get("token_uri") != settings.gcp_token_uri:
        raise _bad("token_uri")
    if "universe_domain" in info and info["universe_domain"] != "googleapis.com":
        raise _bad("universe_domain")
    private_key_der(info.get("private_key"))
    table = config.get("billing_export_table")
    if table is not None and (not isinstance(table, str) or not BILLING_TABLE.fullmatch(table)):
        raise BadRequestError("Field 'config.billing_export_table' is invalid")
    return info
