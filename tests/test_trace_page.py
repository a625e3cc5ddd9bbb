"""make run's trace pages (runtime/views/page.py): what the page's and the traffic summary's trace
links open without Docker. In process, what a page holds; then the page's link followed in
Chromium under a real `make run`."""

import io
import json
import re
import threading

import pytest
import requests
from playwright.sync_api import sync_playwright

from backend_apis.logs import trace_log_lines
from runtime.backends.tempo import TempoApi, TraceStore
from runtime.views.page import render_page
from runtime.views.terminal import MISSING_PARENT_SECONDS, QUIET_SECONDS, TraceView
from runtime.views.tree import PENDING, SAMPLED, SpanCpu
from tests.browser import launch
from tests.make_run import MakeRun
from tests.otlp import make_span

TRACE_ID = "5b8efff798038103d269b633813fc60c"
MS = 1_000_000


def span(span_id, parent, service, kind, name, start_ms, end_ms, **attributes):
    return make_span(TRACE_ID, span_id, parent, service, kind, name, start_ms * MS, end_ms * MS, attributes)


SPANS = [span("1" * 16, "", "frontend", "SERVER", "GET /roll", 0, 100, **{"die.type": "<script>alert(1)</script>"}),
         span("2" * 16, "1" * 16, "dice-roller", "SERVER", "GET /roll", 5, 95)]


def test_a_page_shows_each_span_and_the_traces_log_lines_and_escapes_what_callers_sent(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "dice-roller.log").write_text("\n".join([
        json.dumps({"timestamp": "t2", "level": "INFO", "message": "Roll completed", "trace_id": TRACE_ID, "roll": 4}),
        json.dumps({"timestamp": "t3", "level": "INFO", "message": "Another trace", "trace_id": "0" * 32}),
        "not json " + TRACE_ID,
    ]) + "\n")
    (logs / "frontend.log").write_text(json.dumps(
        {"timestamp": "t1", "level": "INFO", "message": "Roll request received", "trace_id": TRACE_ID}) + "\n")
    lines = trace_log_lines(logs, TRACE_ID)
    assert [(service, line["message"]) for service, line in lines] == [
        ("frontend", "Roll request received"), ("dice-roller", "Roll completed")]
    cpu = {"2" * 16: SpanCpu(SAMPLED, 80 * MS, (("burn_cpu_for_fault", 80 * MS),), 90 * MS),
           "1" * 16: SpanCpu(PENDING)}
    page = render_page(TRACE_ID, SPANS, cpu, lines)
    assert page.count("<tr class=") == 2 and "Roll completed" in page and "roll=4" in page
    assert "cpu: 80 ms: burn_cpu_for_fault 80 ms" in page
    # Each SERVER span's CPU in the waterfall itself, not only behind a click.
    rows = re.findall(r"<tr class=.*?</tr>", page)
    assert [re.sub(r"<details>.*?</details>", "", row).count(figure) for row, figure in zip(
        rows, ('title="its profile has not arrived">arriving<', 'title="80 ms: burn_cpu_for_fault 80 ms">80 ms<'),
        strict=True)] == [1, 1]
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_page_is_served_beside_tempos_api_and_a_trace_not_kept_is_404():
    store = TraceStore()
    store.add(TRACE_ID, SPANS)
    view = TraceView(store, out=io.StringIO(), page_wait_seconds=0.1)
    api = TempoApi(store, port=0, page=view.page)
    try:
        found = requests.get(f"{api.url}/trace/{TRACE_ID}", timeout=5)
        assert found.status_code == 200 and found.headers["Content-Type"].startswith("text/html")
        # make run's pages are its own, not the frontend's: no CSP forbids their reload (a meta refresh)
        assert "Content-Security-Policy" not in found.headers
        for path in ("0" * 32, "<b>", "x" * 5000):
            missing = requests.get(f"{api.url}/trace/{path}", timeout=5)
            assert missing.status_code == 404 and "<b>" not in missing.text and "not a trace id" in missing.text
        unknown = requests.get(f"{api.url}/trace/{'ab' * 16}", timeout=5)
        assert unknown.status_code == 404 and "no span of trace" in unknown.text
    finally:
        api.close()
        view.close()


class Clock:
    """The trace view's clock, moved by the test: when a trace is complete is the test's to say."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def arrive(view, clock, spans, quiet_for=QUIET_SECONDS):
    """The spans come in, then none for `quiet_for`: the trace is complete."""
    view.add(spans)
    clock.now += quiet_for
    view.flush()


def test_a_page_asked_for_as_its_trace_arrives_waits_for_it():
    """"View trace" clicked at once: the page is asked for before the spans have come (they
    are exported a moment after the answer) and before they are complete."""
    for first_spans_before_the_page in (False, True):
        clock = Clock()
        view = TraceView(TraceStore(), out=io.StringIO(), clock=clock)
        if first_spans_before_the_page:
            view.add(SPANS[:1])
        later = threading.Timer(0.3, arrive, (view, clock, SPANS[1:] if first_spans_before_the_page else SPANS))
        later.start()
        try:
            status, html = view.page(TRACE_ID)
        finally:
            later.join()
            view.close()
        assert status == 200 and "2 spans" in html, html


def test_a_trace_still_arriving_after_the_wait_is_a_page_that_says_so_and_reloads_itself():
    clock = Clock()
    view = TraceView(TraceStore(), out=io.StringIO(), clock=clock, page_wait_seconds=0.2)
    try:
        view.add(SPANS[1:])  # its parent is still to come: the trace waits for it
        clock.now += QUIET_SECONDS
        status, html = view.page(TRACE_ID)
        assert status == 200 and "is arriving: 1 span so far" in html and '<meta http-equiv="refresh"' in html
        assert "no span" not in html
        arrive(view, clock, SPANS[:1], quiet_for=MISSING_PARENT_SECONDS)
        status, html = view.page(TRACE_ID)
        assert status == 200 and "2 spans" in html and "refresh" not in html
    finally:
        view.close()


def test_a_trace_never_seen_is_said_so_with_what_make_run_keeps():
    view = TraceView(TraceStore(), out=io.StringIO(), page_wait_seconds=0.2)
    try:
        status, html = view.page("ab" * 16)
    finally:
        view.close()
    assert status == 404 and "refresh" not in html
    text = re.sub(r"<[^>]+>", "", html)
    assert "make run has no span of trace abab" in text and "arrives a second or two after its roll" in text
    assert "the last 15 minutes, within 128 MiB" in text


@pytest.mark.slow
def test_the_pages_trace_link_opens_the_trace_under_make_run(tmp_path):
    run = MakeRun(tmp_path, prometheus=False)
    try:
        run.wait_until_up()
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                page = browser.new_page()
                page.goto(run.frontend)
                page.select_option("#die", "fair")
                page.click("button[type=submit]")
                link = page.locator("#result-trace-link")
                link.wait_for(state="visible", timeout=15_000)
                trace_id = page.locator("#result-trace-id").text_content()
                assert re.fullmatch(r"[0-9a-f]{32}", trace_id) and link.text_content() == "View trace"
                answers = []  # every answer for the trace's page, reloads included
                page.context.on("response", lambda response: response.url.endswith(trace_id)
                                and answers.append(response.status))
                with page.context.expect_page() as opened:
                    link.click()  # at once: the trace's spans are still on their way
                trace_page = opened.value
                # The page waits for the trace, or says it is arriving and reloads itself: never a
                # 404 that calls it not kept, and nothing for the learner to reload by hand.
                trace_page.locator("text=Roll completed").wait_for(timeout=15_000)
                assert answers and set(answers) == {200}, answers
                text = trace_page.locator("main").inner_text()
                assert f"Trace {trace_id}" in text and "7 spans" in text
                assert all(name in text for name in ("GET /roll", "GET /dice", "SELECT die_specifications", "roll die"))
                assert "Roll request received" in text and "Roll completed" in text  # two services' lines
            finally:
                browser.close()
    finally:
        run.stop()
