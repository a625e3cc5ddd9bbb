"""The SLO rules (stack/prometheus/rules/, docs/slo.md): promtool checks every rule file and runs
the unit tests of tests/prometheus_rules/ (each alert at its burn rate, after the time the math
says, silent for a blip and just under its threshold; the recording rules' ratios for known
series), and the rules keep one home for each fact: the targets, the SLI of each window, the
latency threshold the frontend's histogram has a bucket for."""

import json
import re
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from ops.metrics import HTTP_REQUEST_DURATION, SLO_LATENCY_THRESHOLD_SECONDS
from runtime import REPO

RULES_DIR = REPO / "stack/prometheus/rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
UNIT_TESTS = sorted((REPO / "tests/prometheus_rules").glob("*_test.yml"))
SLO_RULES = yaml.safe_load((RULES_DIR / "slo.yml").read_text())
DASHBOARD = json.loads((REPO / "dashboards/dice-three-services.json").read_text())
OBJECTIVES = {"roll-availability", "roll-latency"}
# The alerts' windows: (long, short, burn-rate factor, severity), the SRE workbook's.
ALERT_WINDOWS = {("1h", "5m", 14.4, "page"), ("6h", "30m", 6, "page"), ("1d", "2h", 3, "ticket"),
                 ("3d", "6h", 1, "ticket")}

pytestmark = pytest.mark.slow  # promtool evaluates the rules a few thousand times: seconds of CPU


def rules():
    return [rule for group in SLO_RULES["groups"] for rule in group["rules"]]


def recorded(name):
    return [rule for rule in rules() if rule.get("record") == name]


def alerts():
    return [rule for rule in rules() if "alert" in rule]


def test_every_rule_file_passes_promtool_check():
    assert RULE_FILES
    checked = subprocess.run(["promtool", "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_unit_tests_pass():
    assert len(UNIT_TESTS) >= 4
    tested = subprocess.run(["promtool", "test", "rules", *map(str, UNIT_TESTS)], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") + tested.stderr.count("SUCCESS") == len(UNIT_TESTS)


def test_the_unit_tests_fail_for_a_rule_that_is_wrong(tmp_path):
    """The tests can fail: the page's first test (20x for 70 min: no page 40 min in, at 13.3x)
    against the rules with the page's factor lowered to 13. One test of the file, not its five:
    promtool spends a fifth of the CPU."""
    broken = tmp_path / "stack/prometheus/rules"
    broken.mkdir(parents=True)
    (broken / "slo.yml").write_text((RULES_DIR / "slo.yml").read_text().replace("> 14.4", "> 13"))
    (tmp_path / "tests/prometheus_rules").mkdir(parents=True)
    test_file = tmp_path / "tests/prometheus_rules/slo_page_1h_test.yml"
    page_tests = yaml.safe_load((REPO / "tests/prometheus_rules/slo_page_1h_test.yml").read_text())
    test_file.write_text(yaml.safe_dump({**page_tests, "tests": page_tests["tests"][:1]}))
    tested = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=300)
    assert tested.returncode == 1 and "FAILED" in tested.stdout + tested.stderr


def test_each_objective_is_written_once_and_every_rule_reads_it_from_there():
    targets = {rule["labels"]["slo"]: rule["expr"] for rule in recorded("slo:objective:ratio")}
    assert targets == {"roll-availability": "vector(0.995)", "roll-latency": "vector(0.99)"}
    text = (RULES_DIR / "slo.yml").read_text()
    for target in ("0.995", "0.99)"):
        assert text.count(target) == 1, target
    assert [rule["expr"] for rule in recorded("slo:error_budget:ratio")] == ["1 - slo:objective:ratio"]
    for alert in alerts():
        assert alert["expr"].count("slo:error_budget:ratio") == 2, alert["expr"]


def test_each_sli_is_one_expression_over_every_window_the_alerts_and_the_budget_need():
    windows = {window for long, short, _, _ in ALERT_WINDOWS for window in (long, short)} | {"30d"}
    by_objective = {}
    for rule in rules():
        found = re.fullmatch(r"slo:sli_error:ratio_rate(\w+)", rule.get("record", ""))
        if found:
            window = found.group(1)
            # The window is the only difference between the rules of one objective.
            assert rule["expr"].count(f"[{window}]") >= 2, rule
            by_objective.setdefault(rule["labels"]["slo"], {})[window] = rule["expr"].replace(f"[{window}]", "[W]")
    assert set(by_objective) == OBJECTIVES
    for objective, expressions in by_objective.items():
        assert set(expressions) == windows, objective
        assert len(set(expressions.values())) == 1, f"{objective}: the windows' expressions differ"
    availability = next(iter(by_objective["roll-availability"].values()))
    assert 'status=~"5.."' in availability and "frontend_die_failed_answers_total" in availability
    assert availability.count('job="frontend-stage3", route=~"/roll|/roll-async"') == 3


def test_the_latency_threshold_is_a_bucket_of_the_services_histogram():
    latency = recorded("slo:sli_error:ratio_rate5m")
    [threshold] = {le for rule in latency for le in re.findall(r'le="([^"]+)"', rule["expr"])}
    assert float(threshold) == SLO_LATENCY_THRESHOLD_SECONDS
    assert SLO_LATENCY_THRESHOLD_SECONDS in HTTP_REQUEST_DURATION._upper_bounds


def test_each_alert_is_a_multiwindow_burn_rate_with_labels_and_annotations_to_act_on():
    found = set()
    for alert in alerts():
        assert alert["alert"] == "ErrorBudgetBurn"
        long, short, factor = re.fullmatch(
            r"slo:sli_error:ratio_rate(\w+) / on\(slo\) slo:error_budget:ratio > ([\d.]+)\n"
            r"and\nslo:sli_error:ratio_rate(\w+) / on\(slo\) slo:error_budget:ratio > ([\d.]+)\n",
            alert["expr"]).group(1, 3, 2)
        assert alert["expr"].count(f"> {factor}\n") == 2  # one factor for both windows
        found.add((long, short, float(factor), alert["labels"]["severity"]))
        assert alert["labels"] == {"severity": alert["labels"]["severity"], "window": long}
        assert set(alert["annotations"]) == {"summary", "description", "dashboard", "explore"}
        assert "slo:error_budget_remaining:ratio" in alert["annotations"]["description"]  # the budget left
        assert "$value" in alert["annotations"]["summary"]  # how fast
    assert found == ALERT_WINDOWS


def test_the_alerts_links_open_the_dashboards_burn_rate_panel_and_explore_with_the_alerts_query():
    panels = {panel["id"]: panel for panel in DASHBOARD["panels"]}
    for alert in alerts():
        dashboard = urlsplit(alert["annotations"]["dashboard"])
        assert dashboard.path == f"/d/{DASHBOARD['uid']}/"
        panel = panels[int(parse_qs(dashboard.query)["viewPanel"][0].removeprefix("panel-"))]
        window = alert["labels"]["window"]
        assert any(f"slo:sli_error:ratio_rate{window}" in target["expr"] for target in panel["targets"])
        # Explore: the rendered link (the objective's name is URL-safe) holds the long window's burn rate.
        explore = urlsplit(alert["annotations"]["explore"].replace("{{ $labels.slo }}", "roll-latency"))
        pane = json.loads(parse_qs(explore.query)["panes"][0])["burn"]
        assert pane["datasource"] == "prometheus" and pane["queries"][0]["datasource"]["uid"] == "prometheus"
        assert pane["queries"][0]["expr"] == (f'slo:sli_error:ratio_rate{window}{{slo="roll-latency"}} '
                                              "/ on(slo) slo:error_budget:ratio")


def test_every_alert_and_objective_is_unit_tested():
    expected = set()
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                expected |= {(alert["exp_labels"]["slo"], alert["exp_labels"]["window"])
                             for alert in case.get("exp_alerts", [])}
    assert {window for _, window in expected} == {long for long, _, _, _ in ALERT_WINDOWS}
    assert {objective for objective, _ in expected} == OBJECTIVES
