from itertools import islice

from traffic.plan import Mix, endless_rolls, make_plan
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


def test_a_batch_share_makes_batches_without_changing_the_dice():
    plain = make_plan(4, 30, DICE, 0, 1, seed=9)
    mixed = make_plan(4, 30, DICE, 0, 1, seed=9, mix=Mix(batch_share=0.3, max_batch=6))
    assert [[roll.die for roll in rolls] for rolls in plain] == [[roll.die for roll in rolls] for rolls in mixed]
    times = [roll.times for rolls in mixed for roll in rolls]
    assert all(roll.times == 1 for rolls in plain for roll in rolls)
    assert set(times) - {1} <= set(range(2, 7)) and 0.15 <= sum(t > 1 for t in times) / len(times) <= 0.45


def test_batches_are_summarized_apart_from_single_rolls():
    outcomes = [Outcome(0, "fair", 200, 0.1, "1" * 32), Outcome(0, "fair", 200, 0.2, "2" * 32)]
    outcomes += [Outcome(1, "fair", 200, 0.9, "3" * 32, times=5), Outcome(1, "risky", 500, 0.4, "4" * 32, times=3)]
    summary = summarize(outcomes, 4, 2.0, "http://grafana:3000")
    assert summary["rolls"] == 4 and summary["single_rolls"] == 2
    assert summary["by_die_and_status"] == {"fair": {"200": 2}} and summary["latency_seconds"]["max"] == 0.2
    batches = summary["batches"]
    assert (batches["count"], batches["dice"], batches["by_status"]) == (2, 8, {"200": 1, "500": 1})
    assert batches["latency_seconds"]["p50"] == 0.4 and batches["latency_seconds"]["p99"] == 0.9
    assert batches["slowest"][0]["trace_id"] == "3" * 32 and batches["slowest"][0]["times"] == 5
    assert [row["trace_id"] for row in batches["failed"]] == ["4" * 32]
    text = render_text(summary)
    assert "2 of them batches" in text and "batches: 2 (8 dice), 1 failed (200: 1, 500: 1)" in text
    assert "5 × fair" in text and "slowest batches:" in text
