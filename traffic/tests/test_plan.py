from itertools import islice

from traffic.plan import endless_rolls, make_plan
from traffic.summary import Outcome, render_text, summarize

DICE = ["fair", "risky", "d20"]


def test_seeded_plans_are_identical_and_bounded():
    first = make_plan(3, 5, DICE, 0.5, 2.0, seed=42)
    assert first == make_plan(3, 5, DICE, 0.5, 2.0, seed=42)
    assert first != make_plan(3, 5, DICE, 0.5, 2.0, seed=43)
    assert len(first) == 3 and all(1 <= len(rolls) <= 5 for rolls in first)
    assert all(roll.die in DICE and 0.5 <= roll.think_seconds <= 2.0 for rolls in first for roll in rolls)


def test_endless_rolls_are_seeded_per_user():
    def first_ten(user):
        return list(islice(endless_rolls(user, DICE, 0, 1, seed=7), 10))

    assert first_ten(1) == first_ten(1)
    assert first_ten(1) != first_ten(2)


def test_summary_counts_rates_percentiles_and_links():
    outcomes = [Outcome(0, "fair", 200, 0.01 * i, f"{i:032x}") for i in range(1, 10)]
    outcomes += [Outcome(1, "risky", 500, 0.5, "a" * 32), Outcome(1, "risky", "timeout", 5.0, None)]
    summary = summarize(outcomes, 11, 3.0, "http://grafana:3000")
    assert summary["by_die_and_status"] == {"fair": {"200": 9}, "risky": {"500": 1, "timeout": 1}}
    assert summary["error_rate_by_die"] == {"fair": 0.0, "risky": 1.0}
    assert summary["latency_seconds"]["max"] == 5.0 and summary["latency_seconds"]["p50"] == 0.06
    assert [row["seconds"] for row in summary["slowest"]] == [5.0, 0.5, 0.09, 0.08, 0.07]
    assert [row["status"] for row in summary["failed"]] == [500, "timeout"]
    assert summary["failed"][0]["trace_url"].startswith("http://grafana:3000/explore?")
    assert "a" * 32 in summary["failed"][0]["trace_url"] and summary["failed"][1]["trace_url"] is None


def test_text_summary_links_trace_ids_on_a_terminal_and_prints_urls_elsewhere():
    summary = summarize([Outcome(0, "risky", 500, 0.5, "a" * 32)], 1, 1.0, "http://grafana:3000")
    url = summary["failed"][0]["trace_url"]
    on_terminal, in_file = render_text(summary, hyperlinks=True), render_text(summary)
    assert f"\x1b]8;;{url}\x1b\\trace {'a' * 32}\x1b]8;;\x1b\\" in on_terminal
    assert url in in_file and "\x1b" not in in_file
