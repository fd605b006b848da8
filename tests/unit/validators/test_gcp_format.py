from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from shared.domain.errors import BadRequestError, InvalidFormatError
from shared.domain.models import Credential
from shared.settings import GOOGLE_TOKEN_URI, Settings
from shared.validators import get_validator
from tests.support.provider_servers import private_key_pem, service_account_info

from .conftest import api_key


@pytest.fixture
def gcp():
    validator = get_validator("gcp", Settings())
    yield validator
    validator.close()


def sa(info: dict) -> Credential:
    return Credential.service_account(info)


@pytest.mark.parametrize(
    "project_id",
    ["billing-test-4821", "abcdef", "a" + "b" * 28 + "c", "example.com:my-project", "google.com:cost-exports"],
)
def test_accepts_google_shaped_key_files(gcp, project_id):
    gcp.check_format(sa(service_account_info(project_id=project_id)), {})


def test_accepts_default_service_accounts(gcp):
    info = service_account_info()
    gcp.check_format(sa({**info, "client_email": f"{info['project_id']}@appspot.gserviceaccount.com"}), {})
    gcp.check_format(sa({**info, "client_email": "123456789012-compute@developer.gserviceaccount.com"}), {})


def test_accepts_a_configured_token_uri_only_from_settings():
    uri = "http://127.0.0.1:9/token"
    validator = get_validator("gcp", Settings(gcp_token_uri=uri))
    validator.check_format(sa(service_account_info(token_uri=uri)), {})
    with pytest.raises(InvalidFormatError, match="token_uri"):
        validator.check_format(sa(service_account_info()), {})  # Google's own URI, but not the setting


def _broken(field: str, value):
    info = service_account_info()
    if value is _DELETE:
        del info[field]
    else:
        info[field] = value
    return info


_DELETE = object()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "authorized_user"),
        ("type", _DELETE),
        ("project_id", "Bad_Project"),
        ("project_id", "short"),
        ("project_id", _DELETE),
        ("private_key_id", "abc"),
        ("private_key_id", "g" * 40),
        ("client_email", "cost-reader@other-project-1.iam.gserviceaccount.com"),
        ("client_email", "cost-reader@billing-test-4821.iam.gserviceaccount.com.evil.example"),
        ("client_email", "someone@gmail.com"),
        ("client_id", "12ab"),
        ("client_id", 123456),
        ("token_uri", "https://attacker.example/token"),
        ("token_uri", "https://oauth2.googleapis.com/token/"),
        ("token_uri", _DELETE),
        ("universe_domain", "example.com"),
        ("private_key", "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"),
        ("private_key", "not a pem"),
        ("private_key", _DELETE),
    ],
)
def test_rejects_naming_the_field_not_its_value(gcp, field, value):
    info = _broken(field, value)
    with pytest.raises(InvalidFormatError) as caught:
        gcp.check_format(sa(info), {})
    message = str(caught.value)
    assert message == f"Invalid API key format: {field}"
    assert info["private_key_id" if field != "private_key_id" else "client_id"] not in message


def test_rejects_a_non_rsa_or_small_key(gcp):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    for key in (ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 1024)):
        with pytest.raises(InvalidFormatError, match="private_key"):
            gcp.check_format(sa({**service_account_info(), "private_key": private_key_pem(key)}), {})


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"text"', "{"])
def test_rejects_what_is_not_a_key_file(gcp, raw):
    credential = Credential(secret=SecretStr(raw), kind="service_account")
    with pytest.raises(InvalidFormatError, match=r"^Invalid API key format"):
        gcp.check_format(credential, {})


def test_rejects_an_api_key_in_place_of_a_key_file(gcp):
    with pytest.raises(InvalidFormatError):
        gcp.check_format(api_key("AIza" + "a" * 35), {})


def test_private_key_never_in_errors_or_tracebacks(gcp):
    import traceback

    pem = service_account_info()["private_key"]
    body = pem.splitlines()[3]
    broken = pem.replace(body, body[::-1])  # still PEM-shaped, no longer a key
    credential = sa({**service_account_info(), "private_key": broken})
    gcp.check_format(credential, {})  # the structure and size still read: the key is loaded by check_key
    with pytest.raises(InvalidFormatError) as caught:
        gcp.check_key(credential, {})
    shown = "".join(traceback.format_exception(caught.value))
    assert str(caught.value) == "Invalid API key format: private_key"
    assert body not in shown and body[::-1] not in shown and "PRIVATE KEY" not in shown


@pytest.mark.parametrize("table", ["billing-test-4821.billing.gcp_billing_export_v1_0123AB_CDEF", "my-proj1.ds.t$x-1"])
def test_accepts_billing_export_table(gcp, table):
    gcp.check_format(sa(service_account_info()), {"billing_export_table": table})


@pytest.mark.parametrize("table", ["dataset.table", "Proj.ds.t", "proj-1.ds", "p.ds.t.extra", 42])
def test_rejects_bad_billing_export_table(gcp, table):
    with pytest.raises(BadRequestError, match="config.billing_export_table"):
        gcp.check_format(sa(service_account_info()), {"billing_export_table": table})


def test_default_token_uri_is_googles():
    assert Settings().gcp_token_uri == GOOGLE_TOKEN_URI
    assert json.loads(sa(service_account_info()).value)["token_uri"] == GOOGLE_TOKEN_URI
