"""The console in Chromium against `python -m shared.cli serve` and the provider stand-ins: sign
in, connect OpenAI and watch it become Active without a reload, rotate (the staged rotation,
then its outcome), see failures, edit, disable / enable, read the audit trail, delete with a
typed confirmation; enter a subscription from its config schema; upload a GCP key file read in
the browser. Canary keys are planted and searched for in the page after every submit. The tests
run in order on one page, as a person would; axe-core and the screenshots come last.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.support import console
from tests.support.live_service import LiveService
from tests.support.provider_servers import ProviderServers, anthropic_key, gemini_key, openai_key

pytestmark = pytest.mark.slow

ORG = "acme_corp"
PAGES = {"overview": "", "cloud": "/cloud", "llm": "/llm", "subscriptions": "/subscriptions"}
CANARIES: list[str] = []


@pytest.fixture(scope="module")
def providers():
    servers = ProviderServers().start()
    servers.openai.slow_seconds = 1.5  # long enough to see Pending / Validating on the page
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory, providers):
    service = LiveService(tmp_path_factory.mktemp("console"), providers, VALIDATION_RATE_LIMIT="5/600").start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def org_key(live):
    return live.create_org(ORG)


@pytest.fixture(scope="module")
def chromium():
    yield from console.browser()


@pytest.fixture(scope="module")
def watch():
    return {"navigations": 0, "problems": []}


@pytest.fixture(scope="module")
def page(chromium, live, watch):
    context = chromium.new_context(viewport=console.DESKTOP)
    tab = context.new_page()
    tab.on(
        "framenavigated", lambda frame: frame == tab.main_frame and watch.update(navigations=watch["navigations"] + 1)
    )
    tab.on("pageerror", lambda error: watch["problems"].append(f"page error: {error}"))
    tab.on("console", lambda m: m.type in ("error", "warning") and watch["problems"].append(f"console: {m.text}"))
    yield tab
    context.close()


def url(live: LiveService, section: str = "overview") -> str:
    return f"http://127.0.0.1:{live.port}/{ORG}/settings/integrations{PAGES[section]}"


def card(page, provider: str):
    return page.locator(f"#provider-{provider}")


def no_secret_in(page) -> None:
    assert console.secrets_found(page, CANARIES) == []


def test_every_page_sends_the_security_headers(live) -> None:
    for section in PAGES:
        answer = httpx.get(url(live, section))
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        csp = answer.headers["content-security-policy"]
        for directive in ("default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"):
            assert directive in csp
        assert "unsafe-inline" not in csp and "http" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    script = httpx.get(f"http://127.0.0.1:{live.port}/console/app.js")
    assert (
        script.headers["content-type"].startswith("text/javascript")
        and "nosniff" in script.headers["x-content-type-options"]
    )
    assert httpx.get(f"http://127.0.0.1:{live.port}/console/../configs/providers.yml").status_code == 404
    assert httpx.get(f"http://127.0.0.1:{live.port}/Bad-Org/settings/integrations").status_code == 404


def test_sign_in_asks_for_the_key_once_and_keeps_it_in_the_tab(page, live, org_key) -> None:
    page.goto(url(live))
    key = page.get_by_label("API key")
    key.fill("not-the-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Missing or invalid API key")
    key.fill(org_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Integrations", level=1)).to_be_visible()
    for group in ("Cloud providers", "LLM providers", "Subscriptions"):
        expect(page.get_by_role("heading", name=group, level=2)).to_be_visible()
    expect(page.locator("#summary")).to_contain_text("0 of")
    expect(card(page, "openai")).to_contain_text("Not configured")
    assert page.evaluate("() => sessionStorage.getItem('integrations.apiKey')") == org_key
    assert page.evaluate("() => localStorage.length") == 0
    assert org_key not in page.content()
    page.reload()  # the key is kept for the tab: no second sign in
    expect(card(page, "openai")).to_contain_text("Not configured")


def test_a_key_of_the_wrong_format_is_refused_next_to_the_field_until_dismissed(page, live) -> None:
    openai = card(page, "openai")
    openai.get_by_role("button", name="Connect").click()
    bad = "sk-canary-" + "x" * 8  # fails the format check: nothing is stored
    CANARIES.append(bad)
    openai.get_by_label("API key").fill(bad)
    openai.get_by_role("button", name="Connect", exact=True).last.click()
    alert = openai.locator(".field").get_by_role("alert")
    expect(alert).to_contain_text("Invalid API key format")
    expect(openai.get_by_label("API key")).to_have_value("")  # refused or not, the key leaves the page
    page.wait_for_timeout(1200)
    expect(alert).to_be_visible()  # kept until dismissed
    alert.get_by_role("button", name="Dismiss").click()
    expect(alert).to_have_count(0)
    no_secret_in(page)


def test_connect_openai_and_watch_it_become_active_without_a_reload(page, live, providers, watch) -> None:
    key = providers.openai.set(openai_key("admin"), "slow")
    CANARIES.append(key)
    before = watch["navigations"]
    openai = card(page, "openai")
    openai.get_by_label("Name (optional)").fill("OpenAI prod")
    openai.get_by_label("API key").fill(key)
    openai.locator("button[type=submit]").click()
    expect(openai.locator(".status")).to_have_text(re.compile("Pending|Validating"))
    no_secret_in(page)
    expect(openai.locator(".status")).to_have_text(re.compile("Active"), timeout=15000)
    assert watch["navigations"] == before  # followed by polling, not by a reload
    expect(page.locator("#live")).to_contain_text("OpenAI: Active")
    expect(openai).to_contain_text("Reads costs (costs, usage)")
    expect(openai).to_contain_text("OpenAI prod")
    expect(openai.locator("dd.mono").first).to_contain_text("sk-")
    expect(openai).to_contain_text("Fingerprint")
    expect(page.locator("#summary")).to_contain_text("1 of")
    no_secret_in(page)


def test_rotate_shows_the_staged_rotation_then_its_outcome(page, providers) -> None:
    openai = card(page, "openai")
    new = providers.openai.set(openai_key("admin"), "slow")
    CANARIES.append(new)
    openai.get_by_role("button", name="Rotate key").click()
    openai.get_by_label("API key").fill(new)
    openai.get_by_role("button", name="Rotate", exact=True).click()
    expect(openai.locator(".rotation")).to_contain_text(re.compile("version 2 (pending|validating)"))
    expect(openai.locator(".status")).to_have_text(re.compile("Active"))  # the old key stays in force meanwhile
    expect(openai.locator(".rotation")).to_have_count(0, timeout=15000)
    expect(openai).to_contain_text("(version 2)")
    expect(page.locator("#live")).to_contain_text("rotation to version 2 succeeded")
    refused = openai_key("admin")  # unknown to the stand-in: invalid
    CANARIES.append(refused)
    openai.get_by_role("button", name="Rotate key").click()
    openai.get_by_label("API key").fill(refused)
    openai.get_by_role("button", name="Rotate", exact=True).click()
    expect(openai.locator(".rotation")).to_contain_text("version 3 failed", timeout=15000)
    expect(openai.locator(".rotation")).to_contain_text("API key invalid or expired")
    expect(openai).to_contain_text("(version 2)")
    no_secret_in(page)


def test_an_invalid_key_shows_error_with_the_catalogue_message(page) -> None:
    anthropic = card(page, "anthropic")
    key = anthropic_key()  # well formed, unknown to the stand-in
    CANARIES.append(key)
    anthropic.get_by_role("button", name="Connect").click()
    anthropic.get_by_label("API key").fill(key)
    anthropic.locator("button[type=submit]").click()
    expect(anthropic.locator(".status")).to_have_text(re.compile("Error"), timeout=15000)
    expect(anthropic.locator(".status-message")).to_contain_text("API key invalid or expired")
    no_secret_in(page)


def test_edit_the_name_without_the_secret(page) -> None:
    openai = card(page, "openai")
    sent = []
    page.on("request", lambda r: r.method == "PATCH" and sent.append(r.post_data_json))
    openai.get_by_role("button", name="Edit").click()
    name = openai.get_by_label("Name", exact=True)
    expect(name).to_have_value("OpenAI prod")
    name.fill("OpenAI (finance)")
    openai.get_by_role("button", name="Save changes").click()
    expect(openai).to_contain_text("OpenAI (finance)")
    assert sent == [{"name": "OpenAI (finance)"}]
    expect(openai.locator(".status")).to_have_text(re.compile("Active"))


def test_disable_then_enable_follows_it_back_to_active(page) -> None:
    openai = card(page, "openai")
    openai.get_by_role("button", name="Disable").click()
    expect(openai.locator(".status")).to_have_text(re.compile("Disabled"))
    expect(openai.get_by_role("button", name="Validate now")).to_have_count(0)
    openai.get_by_role("button", name="Enable").click()
    expect(openai.locator(".status")).to_have_text(re.compile("Pending|Validating|Active"))
    expect(openai.locator(".status")).to_have_text(re.compile("Active"), timeout=15000)


def test_a_429_says_when_to_retry(page, live, org_key, providers) -> None:
    key = providers.gemini.set(gemini_key(), "valid")
    CANARIES.append(key)
    api = live.client(org_key)
    assert api.post(f"/{ORG}/gemini/setup?wait=true", json={"credential": key}).status_code == 200
    while api.post(f"/{ORG}/gemini/validate").status_code != 429:  # spend the window (5 attempts)
        pass
    page.reload()
    gemini = card(page, "gemini")
    gemini.get_by_role("button", name="Validate now").click()
    alert = gemini.locator(".card-messages").get_by_role("alert")
    expect(alert).to_contain_text(re.compile(r"Rate limit exceeded\. Try again in \d+ seconds"))


def test_the_audit_trail_is_paged(page) -> None:
    openai = card(page, "openai")
    openai.get_by_role("button", name="Audit trail").click()
    rows = openai.locator("table.events tbody tr")
    expect(rows).to_have_count(10)
    expect(openai.locator("table.events")).to_contain_text("rotate")
    openai.get_by_role("button", name="Show older events").click()
    expect(rows).not_to_have_count(10)
    assert rows.count() > 10
    openai.get_by_role("button", name="Close").click()


def test_a_subscription_is_entered_from_its_config_schema(page) -> None:
    slack = card(page, "slack")
    slack.get_by_role("button", name="Enter subscription").click()
    slack.get_by_label("Plan").fill("business")
    slack.get_by_label("Seats").fill("-3")
    slack.get_by_label("Monthly cost").fill("150")
    slack.get_by_label("Currency (ISO 4217)").select_option("EUR")
    slack.get_by_label("Billing cycle").select_option("monthly")
    slack.get_by_role("button", name="Save").click()
    expect(slack.locator(".field").filter(has=page.get_by_label("Seats")).get_by_role("alert")).to_contain_text(
        "config.seats"
    )
    slack.get_by_label("Seats").fill("12")
    slack.get_by_role("button", name="Save").click()
    expect(slack.locator(".status")).to_have_text(re.compile("Active"))
    expect(slack).to_contain_text("business, 12 seats")
    expect(slack).to_contain_text("150 EUR per month")


def test_a_gcp_key_file_is_read_in_the_browser(page, providers, tmp_path) -> None:
    info = providers.gcp_service_account("valid")
    CANARIES.append(info["private_key"].splitlines()[1])
    path = tmp_path / "key.json"
    path.write_text(__import__("json").dumps(info))
    gcp = card(page, "gcp")
    gcp.get_by_role("button", name="Connect").click()
    gcp.get_by_label("Service account key file (JSON)").set_input_files(str(path))
    expect(gcp).to_contain_text("Read key.json")
    gcp.locator("button[type=submit]").click()
    expect(gcp.locator(".status")).to_have_text(re.compile("Active"), timeout=15000)
    no_secret_in(page)


def test_delete_after_typing_the_provider_name(page) -> None:
    anthropic = card(page, "anthropic")
    anthropic.get_by_role("button", name="Delete").click()
    typed = anthropic.get_by_label("Type anthropic to confirm")
    typed.fill("anthropi")
    anthropic.get_by_role("button", name="Delete").last.click()
    expect(anthropic.get_by_role("alert")).to_contain_text("Type anthropic exactly")
    expect(anthropic.locator(".status")).to_have_text(re.compile("Error"))
    typed.fill("anthropic")
    anthropic.get_by_role("button", name="Delete").last.click()
    expect(anthropic.locator(".status")).to_have_text(re.compile("Not configured"))
    expect(page.locator("#live")).to_contain_text("Anthropic deleted")


def test_every_page_has_no_serious_accessibility_violation(chromium, live, org_key) -> None:
    # axe-core is injected from outside the page: only this context bypasses the CSP.
    context = chromium.new_context(viewport=console.DESKTOP, bypass_csp=True)
    try:
        tab = context.new_page()
        tab.goto(url(live))
        assert console.serious_violations(tab) == [], "sign in"
        tab.evaluate("key => sessionStorage.setItem('integrations.apiKey', key)", org_key)
        found = {}
        for section in PAGES:
            tab.goto(url(live, section))
            tab.locator(".card").first.wait_for()
            found[section] = console.serious_violations(tab)
        tab.goto(url(live, "llm"))  # forms, an error, a failed rotation, the audit trail
        card(tab, "deepseek").get_by_role("button", name="Connect").click()
        card(tab, "deepseek").locator("button[type=submit]").click()
        card(tab, "openai").get_by_role("button", name="Audit trail").click()
        card(tab, "openai").locator("table.events tbody tr").first.wait_for()
        found["forms"] = console.serious_violations(tab)
        assert {k: v for k, v in found.items() if v} == {}
    finally:
        context.close()


def test_screenshots_of_every_page_at_desktop_and_phone_width(chromium, live, org_key, tmp_path) -> None:
    target = console.screenshot_dir(tmp_path)
    for name, viewport in (("", console.DESKTOP), ("-phone", console.PHONE)):
        context = chromium.new_context(viewport=viewport)
        try:
            tab = context.new_page()
            tab.goto(url(live))
            tab.get_by_label("API key").wait_for()
            if not name:
                tab.screenshot(path=str(target / "sign-in.png"))
            tab.evaluate("key => sessionStorage.setItem('integrations.apiKey', key)", org_key)
            for section in PAGES:
                tab.goto(url(live, section))
                tab.locator(".card").first.wait_for()
                # nothing wider than the viewport: readable without sideways scrolling
                assert tab.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"], section
                tab.screenshot(path=str(target / f"{section}{name}.png"), full_page=True)
        finally:
            context.close()
    assert (target / "overview.png").stat().st_size > 10_000


def test_the_pages_ran_without_errors_or_csp_violations(watch) -> None:
    # A blocked inline script or style, or a load from another origin, shows up as a console error.
    unexpected = [p for p in watch["problems"] if "Failed to load resource" not in p]
    assert unexpected == []
