"""The service end to end, as the frontend uses it: `python -m shared.cli serve` in a subprocess,
every endpoint, every status and every error of the catalogue over HTTP; then every byte the
service wrote (data directory, logs, responses, CLI output) is searched for the plaintext
credentials it was given. Every response is held to configs/openapi.yaml.
"""

from __future__ import annotations

import json

import pytest

from tests.support.bqemulator import PROJECT, bq_emulator  # noqa: F401 (fixture)
from tests.support.kms_server import KmsStandIn
from tests.support.live_service import GoogleBackends, LiveService
from tests.support.pubsub_emulator import pubsub_emulator  # noqa: F401 (fixture)
from tests.support.openapi import assert_conforms
from tests.support.provider_servers import (
    ProviderServers,
    anthropic_key,
    deepseek_key,
    gemini_key,
    openai_key,
)

pytestmark = pytest.mark.slow

ORG = "acme_corp"
LIMIT = 8  # validation attempts per org and provider in this module's window
SAAS = {"plan": "business", "seats": 12, "monthly_cost": 150.0, "currency": "USD", "billing_cycle": "monthly"}


@pytest.fixture(scope="module")
def providers():
    servers = ProviderServers().start()
    servers.openai.slow_seconds = 1.0
    yield servers
    servers.stop()


@pytest.fixture(scope="module", params=["embedded", "google"])
def live(request, tmp_path_factory, providers):
    """The service on the embedded defaults, then on BigQuery + Cloud KMS + Pub/Sub (emulators).

    Every test below runs once per backend; pytest runs all of one backend's tests first.
    """
    settings = {"VALIDATION_RATE_LIMIT": f"{LIMIT}/600", "CORS_ORIGINS": "https://app.example.com"}
    workdir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    if request.param == "embedded":
        service = LiveService(workdir, providers, **settings).start()
        yield service
        service.stop()
        return
    bq_url, pubsub_host = request.getfixturevalue("bq_emulator"), request.getfixturevalue("pubsub_emulator")
    with KmsStandIn() as kms:
        google = GoogleBackends(bq_url, pubsub_host, kms, PROJECT)
        service = LiveService(workdir, providers, google=google, **settings)
        try:
            service.start()
            yield service
        finally:
            service.stop()
            google.cleanup()
        # The canary search ran over what the emulators held; make sure it was not empty.
        if google.counts:
            assert google.counts["org_credentials"] > 0 and google.counts["audit_events"] > 0, google.counts
            assert google.counts[google.topic] > 0 and google.counts[google.status_topic] > 0, google.counts


@pytest.fixture(scope="module")
def keys(live):
    return {"acme": live.create_org(ORG), "other": live.create_org("other_org")}


@pytest.fixture(scope="module")
def canaries(live):
    return []  # one list per backend run


@pytest.fixture
def api(live, keys):
    return Api(live.client(keys["acme"]))


class Api:
    """A client that checks every answer against the OpenAPI document."""

    def __init__(self, client, org: str = ORG):
        self.client, self.org = client, org

    def call(self, method: str, path: str, expect: int, **kwargs):
        response = self.client.request(method, path, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        body = response.json() if response.content else None
        assert_conforms(method, "/api/v1/integrations" + path, response.status_code, body, dict(response.headers))
        return body

    def error(self, method: str, path: str, status: int, code: str, message: str | None = None, **kwargs):
        body = self.call(method, path, status, **kwargs)
        assert body["error"]["code"] == code, body
        if message is not None:
            assert body["error"]["message"] == message, body
        return body

    def wait(self, provider: str, predicate, timeout: float = 20):
        return self.client.wait_for(f"/{ORG}/{provider}", predicate, timeout)


def test_authentication_and_organization_errors(live, keys, api):
    anonymous = Api(live.client(None))
    anonymous.error("GET", f"/{ORG}", 401, "unauthorized", "Missing or invalid API key")
    Api(live.client("itg_not-a-key")).error("GET", f"/{ORG}", 401, "unauthorized", "Missing or invalid API key")
    api.error("GET", "/other_org", 403, "forbidden", "API key does not belong to this organization")
    api.error("POST", "/other_org/openai/setup", 403, "forbidden", json={"credential": openai_key()})
    api.error("GET", "/Bad-Org!", 400, "bad_request")
    api.error("GET", "/ab", 400, "bad_request")


def test_list_shows_every_provider_of_the_registry(api):
    body = api.call("GET", f"/{ORG}", 200)
    providers = {i["provider"]: i for i in body["integrations"]}
    assert {"gcp", "openai", "anthropic", "gemini", "deepseek"} <= set(providers)
    assert len([p for p in providers.values() if p["category"] == "saas"]) >= 5
    assert providers["aws"]["status"] == "not_configured" and providers["azure"]["category"] == "cloud"
    assert all(i["status"] == "not_configured" for i in providers.values() if i["provider"] != "slack")
    llm = api.call("GET", f"/{ORG}?category=llm", 200)["integrations"]
    assert {i["provider"] for i in llm} == {"openai", "anthropic", "gemini", "deepseek"}
    api.error("GET", f"/{ORG}?category=crypto", 400, "bad_request")


def test_setup_validates_in_the_background_then_rotation_is_staged(api, providers, canaries):
    key = providers.openai.set(openai_key(), "slow")
    canaries.append(key)
    body = api.call("POST", f"/{ORG}/openai/setup", 202, json={"credential": key, "name": "OpenAI prod"})
    assert body["status"] == "pending" and body["credential"]["version"] == 1
    assert body["credential"]["hint"] == f"sk-...{key[-4:]}" and len(body["credential"]["fingerprint"]) == 8
    api.wait("openai", lambda b: b["status"] == "validating")
    active = api.wait("openai", lambda b: b["status"] == "active")
    assert active["last_validated_at"] and active["name"] == "OpenAI prod"

    again = api.call("POST", f"/{ORG}/openai/setup", 202, json={"credential": key})
    assert again["credential"] == active["credential"], "the same key again changes nothing"

    bad = openai_key()  # unknown to the fake: OpenAI's invalid_api_key answer
    canaries.append(bad)
    staged = api.call("POST", f"/{ORG}/openai/rotate", 202, json={"credential": bad})
    assert staged["rotation"]["version"] == 2 and staged["rotation"]["status"] == "pending"
    failed = api.wait("openai", lambda b: (b["rotation"] or {}).get("status") == "failed")
    assert failed["rotation"]["message"] == "API key invalid or expired"
    assert failed["status"] == "active" and failed["credential"]["version"] == 1, "old key stays in force"

    new = providers.openai.set(openai_key(), "valid")
    canaries.append(new)
    done = api.call("POST", f"/{ORG}/openai/rotate?wait=true", 200, json={"credential": new})
    assert done["rotation"] is None and done["credential"]["version"] == 2 and done["status"] == "active"
    assert done["credential"]["hint"].endswith(new[-4:])

    validated = api.call("POST", f"/{ORG}/openai/validate", 200)
    assert validated["status"] == "active" and validated["status_code"] == "valid"


def test_provider_verdicts_are_statuses_not_request_errors(api, providers, canaries):
    scoped = providers.openai.set(openai_key("svcacct"), "missing_scope")
    gem = gemini_key()  # unknown to the fake: 400 API_KEY_INVALID
    ant = providers.anthropic.set(anthropic_key(), "forbidden")
    canaries.extend([scoped, gem, ant])
    api.call("DELETE", f"/{ORG}/openai", 204)
    body = api.call("POST", f"/{ORG}/openai/setup?wait=true", 200, json={"credential": scoped})
    assert (body["status"], body["status_code"]) == ("error", "missing_permissions")
    assert body["status_message"].startswith("Missing permissions")
    body = api.call("POST", f"/{ORG}/gemini/setup?wait=true", 200, json={"credential": gem})
    assert (body["status"], body["status_code"], body["status_message"]) == (
        "error",
        "invalid_credentials",
        "API key invalid or expired",
    )
    body = api.call("POST", f"/{ORG}/anthropic/setup", 202, json={"credential": ant})
    body = api.wait("anthropic", lambda b: b["status"] == "error")
    assert body["status_code"] == "missing_permissions"


def test_provider_down_then_revoked_key_expires(live, api, providers, canaries):
    down = providers.deepseek.set(deepseek_key(), "unavailable")
    canaries.append(down)
    # One outage, one answer: 503 on every path that waits; the integration records it.
    api.error(
        "POST",
        f"/{ORG}/deepseek/setup?wait=true",
        503,
        "provider_unavailable",
        "Provider unavailable",
        json={"credential": down},
    )
    body = api.call("GET", f"/{ORG}/deepseek", 200)
    assert body["status"] == "error" and body["status_message"].startswith("Provider unavailable")
    api.error("POST", f"/{ORG}/deepseek/validate", 503, "provider_unavailable", "Provider unavailable")

    providers.deepseek.set(down, "valid")
    assert api.call("POST", f"/{ORG}/deepseek/validate", 200)["status"] == "active"
    providers.deepseek.set(down, "invalid")
    live.cli("revalidate")  # what the daily scheduler does
    expired = api.wait("deepseek", lambda b: b["status"] == "expired")
    assert expired["status_message"] == "API key invalid or expired"


def test_request_errors_from_the_catalogue(live, api, keys):
    api.error(
        "POST",
        f"/{ORG}/openai/setup",
        400,
        "invalid_format",
        "Invalid API key format",
        json={"credential": "sk-ant-api03-not-an-openai-key"},
    )
    api.error("POST", f"/{ORG}/openai/setup", 400, "bad_request", json={"name": "no credential"})
    api.error(
        "POST",
        f"/{ORG}/openai/setup",
        400,
        "bad_request",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    api.error(
        "POST",
        f"/{ORG}/openai/setup",
        415,
        "unsupported_media_type",
        "Content-Type must be application/json",
        content=b"credential=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    api.error(
        "POST",
        f"/{ORG}/openai/setup",
        413,
        "payload_too_large",
        "Request body too large",
        json={"credential": "x" * 70_000},
    )
    api.error("POST", f"/{ORG}/nosuch/setup", 404, "unknown_provider", json={"credential": "x"})
    api.error("GET", f"/{ORG}/figma", 404, "not_configured", "Integration not configured")
    api.error("DELETE", f"/{ORG}/figma", 404, "not_configured", "Integration not configured")
    response = live.client(keys["acme"]).request("PUT", f"/{ORG}/openai")
    assert response.status_code == 405 and response.json()["error"] == {
        "code": "method_not_allowed",
        "message": "Method not allowed",
    }
    assert response.headers["Allow"] == "DELETE, GET, OPTIONS, PATCH"
    api.error("GET", f"/{ORG}/openai/nothing/here", 404, "not_found")


def test_own_rate_limit_counts_attempts_after_lifecycle_checks(api, providers, canaries):
    key = providers.gemini.set(gemini_key(), "valid")
    canaries.append(key)
    # gemini already used one attempt (the invalid key above) in this module.
    api.call("POST", f"/{ORG}/gemini/setup?wait=true", 200, json={"credential": key})
    for _ in range(LIMIT - 2):
        api.call("POST", f"/{ORG}/gemini/validate", 200)
    body = api.error("POST", f"/{ORG}/gemini/validate", 429, "rate_limited", "Rate limit exceeded")
    assert body
    api.call("POST", f"/{ORG}/gemini/disable", 200)
    api.error("POST", f"/{ORG}/gemini/validate", 409, "invalid_transition")  # lifecycle first


def test_disable_enable_edit_and_events(api, providers, canaries):
    api.error("POST", f"/{ORG}/openai/enable", 409, "invalid_transition")
    key = providers.openai.set(openai_key(), "valid")
    canaries.append(key)
    api.call("POST", f"/{ORG}/openai/setup?wait=true", 200, json={"credential": key})
    api.error("POST", f"/{ORG}/openai/enable", 409, "invalid_transition")
    disabled = api.call("POST", f"/{ORG}/openai/disable", 200)
    assert disabled["status"] == "disabled" and disabled["credential"] is not None
    enabled = api.call("POST", f"/{ORG}/openai/enable", 202)
    assert enabled["status"] == "pending"
    api.wait("openai", lambda b: b["status"] == "active")
    edited = api.call("PATCH", f"/{ORG}/openai", 200, json={"name": "OpenAI (finance)"})
    assert edited["name"] == "OpenAI (finance)" and edited["credential"] == enabled["credential"]
    api.error("PATCH", f"/{ORG}/openai", 400, "bad_request", json={"credential": key})

    page = api.call("GET", f"/{ORG}/openai/events?limit=2", 200)
    assert len(page["events"]) == 2 and page["next_cursor"]
    ats = [e["at"] for e in page["events"]]
    assert ats == sorted(ats, reverse=True)
    rest = api.call("GET", f"/{ORG}/openai/events?limit=500&cursor={page['next_cursor']}", 200)
    actions = {e["action"] for e in page["events"] + rest["events"]}
    assert {"setup", "rotate", "validate", "disable", "enable", "edit", "status_change"} <= actions
    api.error("GET", f"/{ORG}/openai/events?limit=0", 400, "bad_request")


def test_each_key_type_ends_active_with_what_it_can_do_through_the_queue(live, providers, canaries):
    """Issue 11's acceptance: set up without waiting, validated by the validator from the queue
    (the local queue, or Pub/Sub on the emulator), each key type ends `active` with the
    capabilities its check proved; a read-only Admin key ends in its exact message."""
    admin_org = Api(live.client(live.create_org("cost_reader")), "cost_reader")
    other_org = Api(live.client(live.create_org("infer_only")), "infer_only")
    models_before = providers.openai.count("/models")
    gcp = providers.gcp_service_account("valid")
    table = f"{gcp['project_id']}.billing.gcp_billing_export_v1_0123AB_CDEF45_6789AB"
    cases = [
        (admin_org, "openai", providers.openai.set(openai_key("admin"), "valid"), {}, ["costs", "usage"], None),
        (admin_org, "anthropic", providers.anthropic.set(anthropic_key(admin=True), "valid"), {}, ["costs", "usage"],
         None),
        (admin_org, "gcp", gcp, {"billing_export_table": table}, ["costs"], None),
        (other_org, "openai", providers.openai.set(openai_key(), "valid"), {}, ["inference"],
         "Valid: reads no costs (inference only); for costs, create an Admin key (sk-admin-...) at "
         "platform.openai.com/settings/organization/admin-keys"),
        (other_org, "anthropic", providers.anthropic.set(anthropic_key(), "valid"), {}, ["inference"],
         "Valid: reads no costs (inference only); for costs, create an Admin key (sk-ant-admin01-...) at "
         "console.anthropic.com/settings/admin-keys (organization admins only)"),
        (other_org, "deepseek", providers.deepseek.set(deepseek_key(), "valid"), {}, ["inference", "balance"], None),
    ]  # fmt: skip
    canaries.extend(c for _, _, c, _, _, _ in cases if isinstance(c, str))
    for api, provider, credential, config, _, _ in cases:
        body = {"credential": credential, **({"config": config} if config else {})}
        assert api.call("POST", f"/{api.org}/{provider}/setup", 202, json=body)["status"] == "pending"
    for api, provider, _, _, capabilities, message in cases:
        done = api.client.wait_for(f"/{api.org}/{provider}", lambda b: b["status"] not in ("pending", "validating"))
        assert (done["status"], done["status_message"], done["capabilities"]) == ("active", message, capabilities)
    listed = {i["provider"]: i["capabilities"] for i in admin_org.call("GET", "/cost_reader", 200)["integrations"]}
    assert listed["openai"] == ["costs", "usage"] and listed["deepseek"] is None
    assert providers.openai.count("/models") == models_before + 1, "only the regular key went to the model list"

    read_only = providers.openai.set(openai_key("admin"), "read_only")
    canaries.append(read_only)
    third = Api(live.client(live.create_org("read_only_admin")), "read_only_admin")
    third.call("POST", "/read_only_admin/openai/setup", 202, json={"credential": read_only})
    failed = third.client.wait_for("/read_only_admin/openai", lambda b: b["status"] == "error")
    assert (failed["status_code"], failed["status_message"], failed["capabilities"]) == (
        "missing_permissions",
        "Missing permissions: the Admin key lacks the scope api.usage.read, so it reads no costs or usage: give it "
        "read access to Usage, or create an Admin key (sk-admin-...) at "
        "platform.openai.com/settings/organization/admin-keys with that access",
        None,
    )


def test_gcp_service_account_as_object_or_string(api, providers, canaries):
    info = providers.gcp_service_account("valid")
    pem_body = "".join(info["private_key"].strip().splitlines()[1:-1])
    canaries.extend([pem_body[:64], pem_body[-64:]])
    config = {"billing_export_table": f"{info['project_id']}.billing.gcp_billing_export_v1_0123AB_CDEF45_6789AB"}
    body = api.call("POST", f"/{ORG}/gcp/setup?wait=true", 200, json={"credential": info, "config": config})
    assert body["status"] == "active", body
    again = api.call("POST", f"/{ORG}/gcp/setup", 202, json={"credential": json.dumps(info, indent=2)})
    assert again["credential"] == body["credential"], "one key, one fingerprint, whatever its form"
    assert info["client_email"] in body["credential"]["hint"]

    foreign = dict(info, token_uri="https://attacker.example.com/token")
    api.error("POST", f"/{ORG}/gcp/setup", 400, "invalid_format", json={"credential": foreign})
    api.error("POST", f"/{ORG}/gcp/setup", 400, "invalid_format", json={"credential": "{not json"})


def test_saas_entry_is_active_at_once(api):
    body = api.call("POST", f"/{ORG}/slack/setup", 202, json={"config": SAAS, "name": "Slack Business"})
    assert body["status"] == "active" and body["credential"] is None and body["config"] == SAAS
    api.error("POST", f"/{ORG}/slack/setup", 400, "bad_request", json={"config": {**SAAS, "seats": -1}})
    api.error("POST", f"/{ORG}/slack/setup", 400, "bad_request", json={"config": SAAS, "credential": "x"})


def test_setup_form_of_any_provider_before_any_setup(live, api):
    """GET and POST share the setup path: the form comes from its own function, the setup still works."""
    form = api.call("GET", f"/{ORG}/anthropic/setup", 200)
    assert form["credential"]["kind"] == "api_key" and "sk-ant-admin01-" in form["credential"]["hint"]
    assert form["config_schema"] == {"type": "object", "additionalProperties": False} and form["steps"]
    notion = api.call("GET", f"/{ORG}/notion/setup", 200)
    assert notion["credential"]["kind"] == "none" and set(notion["config_schema"]["required"]) == set(SAAS)
    assert api.call("GET", f"/{ORG}/gcp/setup", 200)["credential"]["kind"] == "service_account"
    assert api.call("GET", f"/{ORG}/azure/setup", 200)["credential"]["kind"] == "azure_service_principal"
    api.error("GET", f"/{ORG}/nope/setup", 404, "unknown_provider", "Unknown provider")
    api.error("GET", "/other_org/openai/setup", 403, "forbidden")
    refused = live.client(None).request("DELETE", f"/{ORG}/openai/setup")
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET, OPTIONS, POST"
    api.error("GET", f"/{ORG}/notion", 404, "not_configured")  # reading a form stores nothing


def test_encryption_failure_stores_nothing(live, api, providers, canaries):
    with live.break_encryption():  # local keyring corrupted, or Cloud KMS refusing every call
        key = providers.anthropic.set(anthropic_key(), "valid")
        canaries.append(key)
        api.error("POST", f"/{ORG}/cursor/setup", 202 and 400, "bad_request", json={})
        api.error(
            "POST",
            f"/{ORG}/anthropic/setup",
            502,
            "encryption_failed",
            "Credential encryption failed",
            json={"credential": key},
        )
    body = api.call("GET", f"/{ORG}/anthropic", 200)
    assert body["credential"]["fingerprint"] != __import__("hashlib").sha256(key.encode()).hexdigest()[:8]


def test_cors_for_allowed_origins_only(live, keys):
    client = live.client(keys["acme"])
    ok = client.request("OPTIONS", f"/{ORG}/openai/setup", headers={"Origin": "https://app.example.com"})
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert ok.headers["Allow"] == "GET, OPTIONS, POST"
    other = client.request("GET", f"/{ORG}", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_master_key_rotation_and_rewrap(live, api):
    """Rotate the master key, rewrap every ciphertext under the new primary; everything still decrypts."""
    before = json.loads(live.cli("rewrap").stdout.strip().splitlines()[-1])
    assert before["rewrapped"] == 0 and set(before["by_key_version"]) == {before["primary"]}
    live.rotate_master_key()
    report = json.loads(live.cli("rewrap").stdout.strip().splitlines()[-1])
    stored = sum(before["by_key_version"].values())
    assert report["primary"] != before["primary"] and report["rewrapped"] == stored
    assert report["by_key_version"] == {report["primary"]: stored}
    again = json.loads(live.cli("rewrap").stdout.strip().splitlines()[-1])
    assert again["rewrapped"] == 0, "a second run has nothing to do (resumable)"
    assert api.call("POST", f"/{ORG}/openai/validate", 200)["status"] == "active"  # decrypts under the new key


def test_delete_destroys_the_credential_and_events_outlive_it(live, api):
    api.call("DELETE", f"/{ORG}/openai", 204)
    api.error("GET", f"/{ORG}/openai", 404, "not_configured")
    events = api.call("GET", f"/{ORG}/openai/events", 200)["events"]
    assert events[0]["action"] in ("delete", "status_change")
    assert any(e["action"] == "delete" for e in events)


def test_azure_through_the_queue_to_active_then_entra_id_says_the_secret_expired(api, providers, canaries):
    from datetime import date, timedelta

    principal, scope = providers.azure_principal("valid")
    canaries.append(principal["client_secret"])
    expires = (date.today() + timedelta(days=200)).isoformat()
    body = {"credential": principal, "config": {"scope": scope}, "expires_at": expires}
    pending = api.call("POST", f"/{ORG}/azure/setup", 202, json=body)
    assert pending["status"] == "pending" and pending["credential"]["expires_at"] == expires
    active = api.wait("azure", lambda b: b["status"] == "active")
    assert active["capabilities"] == ["costs"] and active["credential"]["hint"] == f"client {principal['client_id']}"
    providers.azure_scenario(principal, "secret_expired")
    expired = api.call("POST", f"/{ORG}/azure/validate", 200)
    assert (expired["status"], expired["status_code"]) == ("expired", "credential_expired")
    assert expired["status_message"].startswith("Credential expired: Entra ID says the client secret has expired")


def test_every_status_was_reached(api):
    seen = {i["status"] for i in api.call("GET", f"/{ORG}", 200)["integrations"]}
    assert {"not_configured", "active", "error", "disabled", "expired"} <= seen


def test_no_plaintext_credential_anywhere(live, keys, canaries):
    """Runs last in this module: the canaries of every test above, searched in everything written."""
    assert len(canaries) >= 10
    live.stop()
    hits = [(where, c[:12]) for where, blob in live.everything_written() for c in canaries if c.encode() in blob]
    assert hits == []
    # The org API keys are secrets too: only their hashes are stored or logged.
    stored = [
        (where)
        for where, blob in live.everything_written()
        if not where.startswith("cli")
        for k in keys.values()
        if k.encode() in blob
    ]
    assert stored == []
    assert json.dumps(live.logs()).count("X-API-Key") == 0
