"""The AWS and Azure connect forms, drawn from the setup form alone: the console's files served
by shared.console, and a stand-in of the API in this process answering the setup form those
providers will have (the `aws` block; credential kinds aws_role and azure_service_principal).
What the form posts is recorded and compared with the API's setup body.
"""

from __future__ import annotations

import json
import re
import threading

import pytest
from playwright.sync_api import expect

from shared.console import Console, serves
from shared.server import FUNCTIONS_DIR
from tests.support import console

pytestmark = pytest.mark.slow

ORG = "acme_corp"
EXTERNAL_ID = "Zq3-external-id-" + "k" * 24
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/platform"},
                   "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}],
}  # fmt: skip
PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ce:GetCostAndUsage"], "Resource": "*"}],
}
FORMS = {
    "aws": {
        "provider": "aws", "category": "cloud", "display_name": "Amazon Web Services",
        "credential": {"kind": "aws_role", "hint": "The ARN of a role in your account that trusts the platform."},
        "config_schema": {"type": "object", "additionalProperties": False,
                          "properties": {"cur_bucket": {"type": "string"}, "cur_prefix": {"type": "string"}}},
        "steps": ["Create the role with the trust policy below.", "Paste its ARN."],
        "aws": {"external_id": EXTERNAL_ID, "principal_arn": "arn:aws:iam::111122223333:role/platform",
                "trust_policy": TRUST, "permissions_policy": PERMISSIONS},
    },
    "azure": {
        "provider": "azure", "category": "cloud", "display_name": "Microsoft Azure",
        "credential": {"kind": "azure_service_principal", "hint": "A service principal with Cost Management Reader."},
        "config_schema": {"type": "object", "additionalProperties": False, "required": ["scope"],
                          "properties": {"scope": {"type": "string"}}},
        "steps": ["Register an app in Entra ID.", "Create a client secret."],
    },
}  # fmt: skip


def integration(provider: str, status: str, **extra) -> dict:
    blank = {"credential": None, "capabilities": None, "rotation": None, "config": None, "status_message": None,
             "status_code": None, "last_validated_at": None}  # fmt: skip
    return {**blank, "org": ORG, "provider": provider, "category": "cloud",
            "name": FORMS[provider]["display_name"], "status": status, **extra}  # fmt: skip


class StandIn:
    """The console's files and a few API answers, on 127.0.0.1."""

    def __init__(self) -> None:
        self.console = Console(FUNCTIONS_DIR / "console" / "static")
        self.posted: dict[str, dict] = {}
        self.state = {p: integration(p, "not_configured") for p in FORMS}

    def __call__(self, environ, start_response):
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        if serves(request.path):
            status, body, headers = self.console.answer(request.method, request.path)
            return Response(body, status=status, headers=headers)(environ, start_response)
        parts = request.path.removeprefix("/api/v1/integrations/").split("/")
        if parts == [ORG]:
            answer = (200, {"org": ORG, "integrations": list(self.state.values())})
        elif len(parts) == 3 and parts[2] == "setup" and request.method == "GET":
            answer = (200, FORMS[parts[1]])
        elif len(parts) == 3 and parts[2] == "setup":
            self.posted[parts[1]] = request.get_json()
            body = self.posted[parts[1]]
            credential = {"fingerprint": "0a1b2c3d", "hint": "...", "version": 1, "created_at": "2026-01-01T00:00:00Z",
                          "expires_at": body.get("expires_at")}  # fmt: skip
            self.state[parts[1]] = integration(parts[1], "active", credential=credential, capabilities=["costs"])
            answer = (202, integration(parts[1], "pending", credential=credential))
        elif len(parts) == 2:
            answer = (200, self.state[parts[1]])
        else:
            answer = (404, {"error": {"code": "not_found", "message": "Not found"}})
        return Response(json.dumps(answer[1]), status=answer[0], mimetype="application/json")(environ, start_response)


@pytest.fixture(scope="module")
def stand_in():
    from werkzeug.serving import make_server

    app = StandIn()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_port}/{ORG}/settings/integrations/cloud"
    yield app
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def chromium():
    yield from console.browser()


@pytest.fixture
def page(chromium, stand_in):
    context = chromium.new_context(viewport=console.DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stand_in.url.split("/acme_corp")[0])
    tab = context.new_page()
    tab.goto(stand_in.url)
    tab.evaluate("() => sessionStorage.setItem('integrations.apiKey', 'stand-in key')")
    tab.reload()
    yield tab
    context.close()


def test_the_aws_form_shows_what_to_paste_with_copy_buttons_and_posts_the_role_arn(page, stand_in) -> None:
    aws = page.locator("#provider-aws")
    aws.get_by_role("button", name="Connect").click()
    for label in ("External ID", "Platform principal", "Trust policy", "Permissions policy"):
        expect(aws.get_by_role("button", name=f"Copy {label.lower()}")).to_be_visible()
    expect(aws.locator(".copy-value").first).to_have_text(EXTERNAL_ID)
    expect(aws).to_contain_text('"sts:ExternalId"')
    aws.get_by_role("button", name="Copy external id").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == EXTERNAL_ID
    expect(page.locator("#live")).to_have_text("External ID copied")
    arn = "arn:aws:iam::123456789012:role/cost-reader"
    aws.get_by_label("Role ARN").fill(arn)
    aws.get_by_label("Cost and Usage Report bucket (optional)").fill("my-cur-bucket")
    aws.locator("button[type=submit]").click()
    expect(aws.locator(".status")).to_have_text(re.compile("Active"), timeout=10000)
    expect(aws).to_contain_text("Reads costs")
    assert stand_in.posted["aws"] == {"credential": arn, "config": {"cur_bucket": "my-cur-bucket"}}


def test_the_azure_form_takes_tenant_client_secret_and_expiry(page, stand_in) -> None:
    azure = page.locator("#provider-azure")
    azure.get_by_role("button", name="Connect").click()
    secret = "azure-canary-" + "s" * 30
    azure.get_by_label("Tenant ID").fill("11111111-2222-3333-4444-555555555555")
    azure.get_by_label("Client ID").fill("66666666-7777-8888-9999-000000000000")
    assert azure.get_by_label("Client secret").get_attribute("type") == "password"
    azure.get_by_label("Client secret").fill(secret)
    azure.locator("button[type=submit]").click()  # no expiry yet: refused in the page, next to the field
    expect(
        azure.locator(".field").filter(has=page.get_by_label("Secret expires on")).get_by_role("alert")
    ).to_contain_text("Enter the day the secret expires")
    azure.get_by_label("Secret expires on").fill("2027-01-31")
    azure.get_by_label("Cost Management scope").fill("/subscriptions/0f0f0f0f-1111-2222-3333-444444444444")
    azure.locator("button[type=submit]").click()
    expect(azure.locator(".status")).to_have_text(re.compile("Active"), timeout=10000)
    expect(azure).to_contain_text("2027-01-31")
    assert stand_in.posted["azure"] == {
        "credential": {
            "tenant_id": "11111111-2222-3333-4444-555555555555",
            "client_id": "66666666-7777-8888-9999-000000000000",
            "client_secret": secret,
        },
        "expires_at": "2027-01-31",
        "config": {"scope": "/subscriptions/0f0f0f0f-1111-2222-3333-444444444444"},
    }
    assert console.secrets_found(page, [secret]) == []


def test_the_aws_and_azure_forms_have_no_serious_accessibility_violation(chromium, stand_in, tmp_path) -> None:
    context = chromium.new_context(viewport=console.DESKTOP, bypass_csp=True)
    try:
        tab = context.new_page()
        tab.goto(stand_in.url)
        tab.evaluate("() => sessionStorage.setItem('integrations.apiKey', 'stand-in key')")
        stand_in.state = {p: integration(p, "not_configured") for p in FORMS}
        tab.reload()
        for provider in FORMS:
            tab.locator(f"#provider-{provider}").get_by_role("button", name="Connect").click()
        tab.locator(".copy-value").first.wait_for()
        assert console.serious_violations(tab) == []
        tab.screenshot(path=str(console.screenshot_dir(tmp_path) / "cloud-connect-forms.png"), full_page=True)
    finally:
        context.close()
