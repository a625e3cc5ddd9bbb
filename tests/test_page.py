"""The page in a real browser: Debian's Chromium (its headless shell) driven by Playwright, against the three
services as real gunicorn processes. No browser is downloaded."""

import json
import os
import re
import tempfile
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from harness.stack import Stack
from runtime import REPO
from tests.browser import launch

pytestmark = pytest.mark.slow

AXE = REPO / "tests/node_tools/node_modules/axe-core/axe.min.js"
# Only ever written into links, never visited.
GRAFANA_URL = "http://grafana.sandbox.test:3000"
# Every die certain, so that each test knows what it will see: `risky` always fails.
DICE = {
    "fair": {"faces": [1, 2, 3, 4, 5, 6], "error_rate": 0},
    "risky": {"faces": [2, 3, 4, 5, 6, 7], "error_rate": 1},
    "d20": {"faces": list(range(1, 21)), "error_rate": 0},
    "coin": {"faces": [0, 1], "error_rate": 0},
}
TRACE_ID = re.compile(r"[0-9a-f]{32}")
# Chromium reports every 4xx/5xx answer to a fetch on the console; the error tests cause them.
HTTP_ERROR_ON_CONSOLE = re.compile(r"^Failed to load resource: the server responded with a status of 5\d\d")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page-stack")
    specifications = folder / "dice.json"
    specifications.write_text(json.dumps(DICE))
    stack = Stack(folder, DIE_SPECIFICATIONS_FILE=specifications, GRAFANA_URL=GRAFANA_URL).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def browser(stack):
    """Closed before the stack stops: its kept-alive connections would hold gunicorn's stop."""
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(request):
    folder = Path(tempfile.mkdtemp(prefix="dice-page-screenshots-"))
    yield folder
    # Kept for a human to look at; printed past pytest's output capture.
    paths = ", ".join(str(path) for path in sorted(folder.iterdir()))
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print(f"\nPage screenshots: {paths}")


class ConsoleWatch:
    """Console errors, uncaught exceptions and CSP violations seen by one page."""

    def __init__(self, page):
        self.errors = []
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        # Init scripts run outside the page's CSP, so they see every violation.
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', (event) =>"
            " console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`));"
        )

    def unexpected(self, allow_http_errors=False):
        return [e for e in self.errors if not (allow_http_errors and HTTP_ERROR_ON_CONSOLE.match(e))]


def open_page(browser, stack, java_script=True, **context_options):
    context = browser.new_context(java_script_enabled=java_script, **context_options)
    page = context.new_page()
    watch = ConsoleWatch(page)
    response = page.goto(stack.frontend.url + "/")
    assert response.status == 200
    return page, watch


def roll(page, die, times=1):
    """Picks the die and how many, clicks Roll; returns once the result is on the page."""
    rows = page.locator("#history-rows tr")
    before = rows.count()
    page.select_option("#die", die)
    page.fill("#times", str(times))
    page.click("#roll-button")
    # The click's submit handler marks the button busy before it returns.
    expect(page.locator("#roll-button")).not_to_have_attribute("aria-disabled", "true")
    expect(rows).to_have_count(min(before + 1, 10))


def submit_without_javascript(page, die, times=1, fault=""):
    """Fills the form and sends it as a browser without JavaScript does: `GET /?die=...`."""
    page.select_option("#die", die)
    page.fill("#times", str(times))
    page.select_option("#fault", fault)
    page.click("#roll-button")
    page.wait_for_url(re.compile(rf"/\?die={die}&times={times}&fault={fault}$"))


def test_each_die_rolls_and_links_its_trace(browser, stack, screenshots):
    page, watch = open_page(browser, stack)
    expect(page.get_by_label("Die", exact=True)).to_be_visible()
    assert page.locator("#die option").all_text_contents() == list(DICE)

    for die in ("fair", "d20", "coin"):
        roll(page, die)
        value = page.locator("#result-value")
        expect(value).to_be_visible()
        assert int(value.text_content()) in DICE[die]["faces"]
        assert page.locator("#result-die").text_content() == die
        assert re.fullmatch(r"\d+ ms", page.locator("#result-time").text_content())
        trace_id = page.locator("#result-trace-id").text_content()
        assert TRACE_ID.fullmatch(trace_id)
        link = page.locator("#result-trace-link").get_attribute("href")
        assert link.startswith(GRAFANA_URL + "/explore?") and trace_id in link

    history = page.locator("#history-rows tr")
    assert history.nth(0).locator(".history-die").text_content() == "coin"
    assert history.nth(2).locator(".history-die").text_content() == "fair"
    page.screenshot(path=screenshots / "result.png", full_page=True)
    assert watch.unexpected() == []


def test_keyboard_alone_rolls_and_the_result_is_announced(browser, stack):
    page, watch = open_page(browser, stack)
    assert page.locator("#result").get_attribute("aria-live") == "polite"
    page.focus("#die")
    page.keyboard.press("ArrowDown")  # fair -> risky on a closed select
    page.keyboard.press("Home")  # back to the first die
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "times"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "roll-button"
    page.keyboard.press("Enter")
    expect(page.locator("#history-rows tr")).to_have_count(1)
    assert int(page.locator("#result-value").text_content()) in DICE["fair"]["faces"]
    # The button keeps the focus, so the next roll is one more key press.
    assert page.evaluate("document.activeElement.id") == "roll-button"
    assert watch.unexpected() == []


def test_history_keeps_the_last_ten_rolls(browser, stack):
    page, watch = open_page(browser, stack)
    for _ in range(12):
        roll(page, "coin")
    assert page.locator("#history-rows tr").count() == 10
    page.reload()
    expect(page.locator("#history-rows tr")).to_have_count(10)
    assert watch.unexpected() == []


def test_risky_die_failure_is_told_in_plain_words(browser, stack, screenshots):
    page, watch = open_page(browser, stack)
    roll(page, "risky")
    expect(page.locator("#result-title")).to_have_text("The die failed")
    expect(page.locator("#result-text")).to_contain_text("fails on purpose")
    expect(page.locator("#result-value")).to_be_hidden()
    assert page.locator("#result-status").text_content() == "HTTP 500"
    assert TRACE_ID.fullmatch(page.locator("#result-trace-id").text_content())
    assert page.locator("#history-rows tr").nth(0).locator(".history-status").text_content() == "500 die_failed"
    page.screenshot(path=screenshots / "error.png", full_page=True)
    assert watch.unexpected(allow_http_errors=True) == []


def test_stopped_roller_is_unavailable_then_recovers(browser, stack):
    page, watch = open_page(browser, stack)
    stack.roller.stop()
    try:
        roll(page, "fair")
        expect(page.locator("#result-title")).to_have_text("Dice roller unavailable")
        assert page.locator("#result-status").text_content() == "HTTP 503"
        assert TRACE_ID.fullmatch(page.locator("#result-trace-id").text_content())
        page.reload()
        expect(page.locator("#die")).to_be_visible()
    finally:
        stack.roller.start()
    roll(page, "fair")
    expect(page.locator("#result-value")).to_be_visible()
    assert watch.unexpected(allow_http_errors=True) == []


def test_without_javascript_the_form_still_rolls(browser, stack):
    page, watch = open_page(browser, stack, java_script=False)
    submit_without_javascript(page, "d20")
    assert int(page.locator("#result-value").text_content()) in DICE["d20"]["faces"]
    assert page.locator("#die").input_value() == "d20"
    trace_id = page.locator("#result-trace-id").text_content()
    assert TRACE_ID.fullmatch(trace_id)
    assert trace_id in page.locator("#result-trace-link").get_attribute("href")

    page.select_option("#die", "risky")
    page.click("#roll-button")
    expect(page.locator("#result-title")).to_have_text("The die failed")
    assert page.locator("#die").input_value() == "risky"
    assert watch.unexpected(allow_http_errors=True) == []


def test_break_something_fails_one_roll_and_names_the_fault(browser, stack, screenshots):
    page, watch = open_page(browser, stack)
    expect(page.get_by_label("Break something")).to_be_visible()
    page.select_option("#fault", "die-service-fails")
    roll(page, "fair")
    # The die service answered 503 on purpose; the roller calls that a bad gateway.
    expect(page.locator("#result-title")).to_have_text("Unusable answer")
    assert page.locator("#result-status").text_content() == "HTTP 502"
    expect(page.locator("#result-fault")).to_contain_text("fault.die-service=error:503")
    trace_id = page.locator("#result-trace-id").text_content()
    assert TRACE_ID.fullmatch(trace_id) and trace_id in page.locator("#result-trace-link").get_attribute("href")
    latest = page.locator("#history-rows tr").nth(0)
    assert latest.locator(".history-fault").text_content() == "fault.die-service=error:503"
    page.screenshot(path=screenshots / "fault.png", full_page=True)

    page.select_option("#fault", "")  # the fault went with that one roll only
    roll(page, "fair")
    expect(page.locator("#result-value")).to_be_visible()
    expect(page.locator("#result-fault")).to_be_hidden()
    assert page.locator("#history-rows tr").nth(0).locator(".history-fault").text_content() == "–"
    assert watch.unexpected(allow_http_errors=True) == []


def test_break_something_works_without_javascript(browser, stack):
    page, watch = open_page(browser, stack, java_script=False)
    submit_without_javascript(page, "fair", fault="dice-roller-fails")
    expect(page.locator("#result-title")).to_have_text("Broken on purpose")
    assert page.locator("#result-status").text_content() == "HTTP 500"
    expect(page.locator("#result-fault")).to_contain_text("fault.dice-roller=error:500")
    assert page.locator("#fault").input_value() == "dice-roller-fails"
    assert watch.unexpected(allow_http_errors=True) == []


BATCH_WORDS = re.compile(r"3 dice: (\d+) \+ (\d+) \+ (\d+) = (\d+)")


def assert_batch_shown(page, die):
    """"3 dice: 4 + 2 + 6 = 12" with the total as the result; returns the rolls."""
    words = BATCH_WORDS.fullmatch(page.locator("#result-dice").text_content())
    assert words, page.locator("#result-dice").text_content()
    *rolls, total = (int(number) for number in words.groups())
    assert all(roll in DICE[die]["faces"] for roll in rolls) and sum(rolls) == total
    assert page.locator("#result-value").text_content() == str(total)
    assert re.fullmatch(r"\d+ ms", page.locator("#result-time").text_content())
    trace_id = page.locator("#result-trace-id").text_content()
    assert TRACE_ID.fullmatch(trace_id) and trace_id in page.locator("#result-trace-link").get_attribute("href")
    return rolls, total


def test_many_dice_at_once_show_every_die_and_the_total(browser, stack, screenshots):
    page, watch = open_page(browser, stack)
    expect(page.get_by_label("How many")).to_have_value("1")
    roll(page, "fair", times=3)
    rolls, total = assert_batch_shown(page, "fair")
    assert page.locator("#history-rows tr").nth(0).locator(".history-value").text_content() == f"3 × fair = {total}"
    page.screenshot(path=screenshots / "batch.png", full_page=True)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):  # the README's picture, docs/page.png
        page.locator("main").screenshot(path=REPO / "docs/page.png")

    roll(page, "fair")  # back to one die: one value, no batch line
    expect(page.locator("#result-dice")).to_be_hidden()
    assert int(page.locator("#result-value").text_content()) in DICE["fair"]["faces"]

    roll(page, "risky", times=4)  # risky always fails here
    expect(page.locator("#result-title")).to_have_text("The die failed")
    expect(page.locator("#result-dice")).to_have_text("4 of 4 dice failed")
    assert watch.unexpected(allow_http_errors=True) == []


def test_many_dice_without_javascript(browser, stack):
    page, watch = open_page(browser, stack, java_script=False)
    submit_without_javascript(page, "coin", times=3)
    assert_batch_shown(page, "coin")
    assert page.locator("#times").input_value() == "3"  # kept for the next roll
    assert watch.unexpected() == []


def test_a_number_out_of_range_is_refused_at_the_field(browser, stack):
    page, watch = open_page(browser, stack)
    page.fill("#times", "21")
    page.click("#roll-button")
    assert page.evaluate("document.getElementById('times').validity.rangeOverflow")
    assert page.locator("#history-rows tr").count() == 0 and page.locator("#result-body").is_hidden()
    assert watch.unexpected() == []


def test_break_something_breaks_a_batch_too(browser, stack):
    page, watch = open_page(browser, stack)
    page.select_option("#fault", "dice-roller-fails")
    roll(page, "fair", times=5)
    expect(page.locator("#result-title")).to_have_text("Broken on purpose")
    expect(page.locator("#result-fault")).to_contain_text("fault.dice-roller=error:500")
    assert page.locator("#result-status").text_content() == "HTTP 500"
    assert watch.unexpected(allow_http_errors=True) == []


def wcag_violations(page):
    """axe-core's WCAG 2.0/2.1 A and AA rules on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})")
    return [(v["id"], v["help"], [node["target"] for node in v["nodes"]]) for v in results["violations"]]


def test_the_page_meets_wcag_2_1_aa_in_every_state(browser, stack):
    # The page's CSP admits no injected script: bypassed in this context only, for axe-core.
    page, watch = open_page(browser, stack, bypass_csp=True)
    assert wcag_violations(page) == []
    roll(page, "fair", times=3)
    assert wcag_violations(page) == []
    roll(page, "risky", times=2)
    assert wcag_violations(page) == []
    page.goto(stack.frontend.url + "/?die=fair&times=4")  # the page without JavaScript's result
    assert wcag_violations(page) == []
    assert watch.unexpected(allow_http_errors=True) == []


def test_fits_a_phone_screen(browser, stack, screenshots):
    page, watch = open_page(browser, stack, viewport={"width": 360, "height": 740}, is_mobile=True)
    roll(page, "d20")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=screenshots / "phone.png", full_page=True)
    assert watch.unexpected() == []


def test_every_response_carries_the_security_headers(stack):
    for path in ("/", "/static/frontend_site/roll.js", "/roll?die=fair", "/nope"):
        headers = requests.get(stack.frontend.url + path, timeout=5).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
