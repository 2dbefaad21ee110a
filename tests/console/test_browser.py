"""The console in a real headless browser (Debian's chromium, driven by Playwright) against
``gateway demo`` running as a real process on 127.0.0.1.

A hospital's Da Vinci discharge arrives by $process-message and is worked to completion in
the browser; an uncertain match is linked; a dead letter is replayed; a consumer's disclosure
report lists a partner's read made through the FHIR API; a case manager cannot open the
privacy officer's pages; every page is opened (and every console link on it followed) with
no JavaScript error, failed request or dead link, at 1280 px and at tablet width; every page
is saved as a screenshot in docs/console/ (SCREENSHOTS; the PNGs README shows are committed,
the others are ignored by docs/console/.gitignore). Without chromium these tests skip, unless
GATEWAY_REQUIRE_BROWSER=1 (CI), when they fail.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.config import browser_required
from gateway.mappings.ids import fhir_id
from tests.inbound.conftest import variant
from tests.test_demo_deliveries import DAVINCI_EXAMPLE, GATEWAY, KEY, free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
ELENA = fhir_id("consumer", "C-1001")
DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 820, "height": 1180}


def _playwright() -> Any:
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        missing = f"Playwright for Python is not installed ({error})"
    if missing is None and not CHROMIUM.exists():
        missing = f"no browser at {CHROMIUM} (apt-get install chromium)"
    if missing is not None:
        if browser_required():
            pytest.fail(f"GATEWAY_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sync_playwright = _playwright()
    tmp = tmp_path_factory.mktemp("console-demo")
    port = free_port()
    output = tmp / "demo.out"
    env = {**os.environ, "GATEWAY_OPERATOR_KEYS": KEY, "GATEWAY_VAR_DIR": str(tmp / "var")}
    with open(output, "wb") as out:
        process = subprocess.Popen([GATEWAY, "demo", "--port", str(port), "--db",
                                    str(tmp / "demo.db")], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    runner = None
    try:
        wait_for(lambda: requests.get(f"{base}/readyz", timeout=1).ok, 120, "the demo")
        banner = output.read_text()
        password = re.search(r"each with\s+the password (\S+)", banner)
        assert password, banner
        runner = sync_playwright().start()
        browser = runner.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        shots = SCREENSHOTS
        shots.mkdir(parents=True, exist_ok=True)
        yield {"base": base, "password": password.group(1), "browser": browser,
               "shots": shots, "tmp": tmp}
        browser.close()
    finally:
        if runner is not None:
            runner.stop()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class Watched:
    """A browser page whose JavaScript errors and failed requests are collected."""

    def __init__(self, demo: dict[str, Any], viewport: dict[str, int] = DESKTOP) -> None:
        self.demo = demo
        self.context = demo["browser"].new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.expected_status: set[int] = set()
        self.page.on("pageerror", lambda error: self.problems.append(f"JS error: {error}"))
        self.page.on("console", self._console)
        self.page.on("requestfailed", lambda request: self.problems.append(
            f"request failed: {request.url} {request.failure}"))
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        # Chromium logs every 4xx page as a console error; those the test expects are not.
        status = re.search(r"status of (\d+)", message.text)
        if message.type == "error" and not (status and int(status.group(1))
                                            in self.expected_status):
            self.problems.append(f"console error: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.status not in self.expected_status:
            self.problems.append(f"HTTP {response.status} for {response.url}")

    def goto(self, path: str) -> Any:
        return self.page.goto(self.demo["base"] + path)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.demo["shots"] / f"{name}.png"), full_page=True)
        width = self.page.evaluate("document.documentElement.scrollWidth")
        viewport = self.page.viewport_size["width"]
        assert width <= viewport, f"{name}: {width}px wide in a {viewport}px window"

    def sign_in(self, name: str) -> None:
        self.goto("/console/")
        self.page.get_by_label("Username").fill(name)
        self.page.get_by_label("Password").fill(self.demo["password"])
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()
        assert self.page.url.endswith("/console/home"), self.page.content()

    def close(self) -> None:
        self.context.close()
        assert self.problems == []


def hospital_token(demo: dict[str, Any]) -> str:
    return partner_token(demo, "hospital-stbrigid", "system/Task.read")


def partner_token(demo: dict[str, Any], partner: str, scope: str) -> str:
    return subprocess.run([GATEWAY, "partners", "token", partner, "--url",
                            demo["base"], "--scope", scope, "--token-only"],
                           capture_output=True, text=True, timeout=60, check=True,
                           env={**os.environ, "GATEWAY_DATABASE_URL":
                                f"sqlite:///{demo['tmp'] / 'demo.db'}"}).stdout.strip()


def hospital_posts_the_discharge(demo: dict[str, Any]) -> None:
    answer = requests.post(f"{demo['base']}/fhir/$process-message",
                           data=DAVINCI_EXAMPLE.read_bytes(), timeout=30,
                           headers={"Authorization": f"Bearer {hospital_token(demo)}",
                                    "Content-Type": "application/fhir+json"})
    assert answer.status_code == 200, answer.text
    wait_for(lambda: requests.get(f"{demo['base']}/admin/referrals", timeout=5, headers={
        "Authorization": f"Bearer {KEY}"}).json()["referrals"], 30, "the referral")


def test_a_discharge_is_accepted_and_completed_in_the_browser(demo):
    browser = Watched(demo)
    page = browser.page
    browser.goto("/console/")
    browser.shot("sign-in")
    browser.sign_in("demo-case-manager")
    page.keyboard.press("Tab")  # keyboard users meet the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    browser.shot("home-empty")
    hospital_posts_the_discharge(demo)

    page.reload()
    assert page.get_by_text("Referrals past an FUH deadline").is_visible()
    browser.shot("home")
    page.get_by_role("link", name="Referrals", exact=True).click()
    row = page.locator("tbody tr").first  # the most urgent: the discharge just sent
    assert "overdue" in row.inner_text()
    browser.shot("referral-inbox")
    row.get_by_role("link").click()
    page.wait_for_url("**/console/referrals/*")
    assert page.get_by_role("heading", name="Deadlines").is_visible()
    browser.shot("referral-requested")

    def click(name: str) -> None:
        page.get_by_role("button", name=name, exact=True).click()
        page.wait_for_load_state()
        assert page.get_by_role("status").is_visible(), page.content()

    if page.get_by_role("button", name="Mark received", exact=True).count():
        click("Mark received")
    click("Accept")
    browser.shot("referral-accepted")
    if not page.get_by_role("button", name="Complete", exact=True).count():
        click("Start")
    # Completing without the visit date: the error sits next to the field, nothing changes.
    browser.expected_status = {400}
    page.get_by_role("button", name="Complete", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#visit-completed-error").is_visible()
    browser.shot("referral-complete-error")
    browser.expected_status = set()
    page.get_by_label("Follow-up visit date").fill(datetime.now(UTC).date().isoformat())
    click("Complete")
    assert page.get_by_text("The referral is now completed.").is_visible()
    assert page.get_by_text("Nothing more can be done").is_visible()
    browser.shot("referral-completed")

    page.set_viewport_size(TABLET)
    browser.goto("/console/referrals?status=all")
    browser.shot("referral-inbox-tablet")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/?reason=signed-out")
    browser.close()


def test_an_uncertain_match_is_linked_in_the_browser(demo):
    # Elena Martinez's name and birth date without her identifiers, address or phone: a
    # probable match an operator must confirm.
    bundle = variant("elena-browser", patient={
        "name": [{"family": "Martinez", "given": ["Elena"]}], "birthDate": "1988-04-12",
        "identifier": []}, encounter={"identifier": [
            {"system": "urn:example:stbrigid:encounter", "value": "elena-browser-1"}]})
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            for name in ("address", "telecom", "gender"):
                entry["resource"].pop(name, None)
    answer = requests.post(f"{demo['base']}/fhir/$process-message", json=bundle, timeout=30,
                           headers={"Authorization": f"Bearer {hospital_token(demo)}",
                                    "Content-Type": "application/fhir+json"})
    assert answer.status_code == 200, answer.text
    browser = Watched(demo)
    page = browser.page
    browser.sign_in("demo-intake")
    page.get_by_role("link", name="Match reviews").first.click()
    page.wait_for_url("**/console/matches")
    browser.shot("match-reviews")
    page.get_by_role("link", name="Elena Martinez").click()
    page.wait_for_url("**/console/matches/*")
    assert page.get_by_role("rowheader", name="birth date").first.is_visible()
    browser.shot("match-review")
    page.get_by_role("button", name="Link").first.click()
    page.wait_for_load_state()
    assert page.get_by_role("status").is_visible()
    browser.shot("match-review-linked")
    page.get_by_role("link", name="its referral").click()
    page.wait_for_url("**/console/referrals/*")
    assert "Elena Rosa Martínez" in page.get_by_role("heading", level=1).inner_text()
    browser.close()


def test_a_case_manager_cannot_open_the_privacy_officers_pages(demo):
    browser = Watched(demo)
    browser.sign_in("demo-case-manager")
    for name in ("Consent problems", "Audit"):
        assert browser.page.get_by_role("link", name=name, exact=True).count() == 0
    browser.expected_status = {403}
    for path in ("/console/consents/problems", "/console/audit",
                 f"/console/consumers/{ELENA}/disclosures",
                 f"/console/consumers/{ELENA}/disclosures/print",
                 f"/console/consumers/{ELENA}/disclosures.csv"):
        answer = browser.goto(path)
        assert answer.status == 403, path
        assert browser.page.get_by_text("Your role does not allow this page").is_visible()
    browser.shot("refused")
    # Their own consumer page offers no way there either.
    browser.expected_status = set()
    browser.goto(f"/console/consumers/{ELENA}")
    assert browser.page.get_by_role("link", name="What partners see").count() == 0
    browser.close()

    officer = Watched(demo)
    officer.sign_in("demo-privacy-officer")
    officer.page.get_by_role("link", name="Consent problems").first.click()
    officer.page.wait_for_url("**/console/consents/problems")
    assert officer.page.get_by_role("heading", name="Consent problems").is_visible()
    officer.shot("consent-problems")
    officer.close()


def test_a_wrong_password_and_an_unknown_page_read_clearly(demo):
    browser = Watched(demo)
    browser.expected_status = {401, 404}
    browser.goto("/console/")
    browser.page.get_by_label("Username").fill("demo-admin")
    browser.page.get_by_label("Password").fill("not the password at all")
    browser.page.get_by_role("button", name="Sign in").click()
    assert browser.page.get_by_role("alert").is_visible()
    browser.shot("sign-in-refused")
    browser.sign_in("demo-admin")
    browser.goto("/console/no-such-page")
    assert browser.page.get_by_text("There is no such page.").is_visible()
    browser.close()


def test_a_dead_letter_is_replayed_in_the_browser(demo):
    browser = Watched(demo)
    page = browser.page
    browser.sign_in("demo-admin")
    page.get_by_role("link", name="Dead letters").click()  # from the home page
    page.wait_for_url("**/console/deliveries")
    assert page.get_by_text("Service Unavailable").first.is_visible()
    assert page.locator("svg.chart, p.empty").first.is_visible()
    browser.shot("deliveries")
    row = page.locator("tbody tr", has=page.get_by_role("button", name="Replay")).first
    seq = row.locator("td").first.inner_text()
    row.get_by_role("button", name="Replay").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").filter(
        has_text=f"Delivery {seq} is queued again").is_visible()
    browser.shot("deliveries-replayed")
    # The worker of `gateway demo` sends it to the demo clinic.
    wait_for(lambda: any(d["id"] == int(seq) for d in requests.get(
        f"{demo['base']}/admin/deliveries?status=sent", timeout=5,
        headers={"Authorization": f"Bearer {KEY}"}).json()["deliveries"]), 60,
        "the replayed delivery to be sent")
    browser.close()


def test_a_consumers_disclosure_report_lists_a_partners_read(demo):
    token = partner_token(demo, "pcp-cedar", "system/CareTeam.read")
    answer = requests.get(f"{demo['base']}/fhir/CareTeam", params={"patient": ELENA},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200 and answer.json().get("entry"), answer.text
    browser = Watched(demo)
    page = browser.page
    browser.sign_in("demo-privacy-officer")
    page.get_by_role("link", name="Consumers", exact=True).click()
    page.get_by_label("Name, consumer id, agency number or Medicaid id").fill("Martínez")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    browser.shot("consumer-search")
    page.get_by_role("link", name="Elena Rosa Martínez").click()
    page.wait_for_url(f"**/console/consumers/{ELENA}")
    assert page.get_by_text("current CSM/SC").is_visible()
    browser.shot("consumer")
    page.get_by_role("link", name="What partners see, and the disclosures").click()
    page.wait_for_url("**/disclosures")
    row = page.locator("tbody tr").filter(has_text="search: CareTeam 1").first
    assert "Cedar Street Family Health" in row.inner_text()
    assert "Consent/" in row.inner_text()
    row.get_by_text("which records").click()
    assert row.get_by_text("CareTeam/").is_visible()
    browser.shot("disclosures")
    csv_text = page.request.get(demo["base"] + page.get_by_role(
        "link", name="Download as CSV").get_attribute("href")).text()
    assert csv_text.startswith("when,partner,") and "pcp-cedar" in csv_text
    page.get_by_role("link", name="Printable page for the consumer").click()
    page.wait_for_url("**/disclosures/print")
    assert page.get_by_role("cell", name="pcp-cedar").first.is_visible()
    browser.shot("disclosures-print")
    browser.close()


# Every page of the console, as the administrator (who may open them all), by path.
def _every_page(demo: dict[str, Any]) -> dict[str, str]:
    return {
        "home": "/console/home", "referral-inbox-all": "/console/referrals?status=all",
        "match-reviews": "/console/matches", "consumers": "/console/consumers",
        "consumer-gerald": f"/console/consumers/{fhir_id('consumer', 'C-1009')}",
        "deliveries-pending": "/console/deliveries?status=pending",
        "partners": "/console/partners", "imports": "/console/imports",
        "consent-problems": "/console/consents/problems", "audit": "/console/audit",
        "consumer-search-empty": "/console/consumers?q=Nobody+Here",
        "overdue-work": "/console/due", "held-messages": "/console/held?show=all",
    }


def test_every_page_opens_without_errors_or_dead_links(demo):
    browser = Watched(demo)
    page = browser.page
    browser.sign_in("demo-admin")
    links: set[str] = set()
    for name, path in _every_page(demo).items():
        answer = browser.goto(path)
        assert answer.status == 200, path
        browser.shot(name)
        links.update(page.eval_on_selector_all(
            "a[href^='/console/']", "nodes => nodes.map(n => n.getAttribute('href'))"))
    # A referral's page, a match review, the audit chain verified.
    browser.goto("/console/referrals")
    page.locator("tbody tr a").first.click()
    page.wait_for_url("**/console/referrals/*")
    assert page.get_by_role("heading", name="Assigned to").is_visible()
    browser.shot("referral")
    browser.goto("/console/audit")
    page.get_by_role("button", name="Verify the audit chain").click()
    page.wait_for_load_state()
    assert page.get_by_text("The audit chain is intact").is_visible()
    browser.shot("audit-verified")
    # Keyboard: from the skip link, Tab reaches the page's first form field.
    browser.goto("/console/partners")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link moves focus to the content
    page.get_by_label("Id", exact=True).focus()
    assert page.evaluate("document.activeElement.id") == "id"
    dead = []
    for link in sorted(links):
        if "sign-out" in link:
            continue
        status = page.request.get(demo["base"] + link).status
        if status >= 400:
            dead.append(f"{link}: {status}")
    assert dead == [], dead
    page.set_viewport_size(TABLET)
    for name in ("home", "deliveries-pending", "partners", "consumer-gerald", "audit"):
        browser.goto(_every_page(demo)[name])
        browser.shot(f"{name}-tablet")
    browser.close()
