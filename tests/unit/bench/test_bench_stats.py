"""make bench's figures: median/min/max, ratio to the fastest peer, the table and the JSON rows."""

from __future__ import annotations

import pytest

from bench.stats import (
    Row,
    compact_table,
    fmt_duration,
    fmt_number,
    format_table,
    order_rows,
    ratios,
    rows_json,
    summarize,
)


def test_summarize_median_min_max_and_skips_runs_without_a_figure():
    assert summarize([3.0, 1.0, 2.0, None]) == {"runs": 3, "median": 2.0, "min": 1.0, "max": 3.0}
    assert summarize([4, 1]) == {"runs": 2, "median": 2.5, "min": 1.0, "max": 4.0}
    assert summarize([]) is None
    assert summarize([None, None]) is None


def test_ratio_is_against_the_fastest_median_of_the_same_scenario_and_measure():
    rows = [
        Row("1 new version", "deploy.yml", "command", [40.0, 42.0, 50.0]),
        Row("1 new version", "kubectl", "command", [4.0, 3.0, 5.0]),
        Row("1 new version", "helm", "command", [8.0]),
        # Another measure of the same scenario is compared only with its own kind.
        Row("1 new version", "deploy.yml", "apply -> rollout complete", [6.0]),
        Row("1 new version", "kubectl", "apply -> rollout complete", [3.0]),
        # A peer without any figure gets no ratio and does not count as the fastest.
        Row("1 new version", "kubernetes.core", "command", [None]),
    ]
    ratio = ratios(rows)
    assert ratio[0] == pytest.approx(42.0 / 4.0)
    assert ratio[1] == pytest.approx(1.0)
    assert ratio[2] == pytest.approx(2.0)
    assert ratio[3] == pytest.approx(2.0)
    assert ratio[4] == pytest.approx(1.0)
    assert ratio[5] is None


def test_no_ratio_for_rows_not_compared_or_when_the_fastest_is_zero():
    rows = [
        Row("6 load", "deploy.yml", "requests failed", [0], unit="", compare=False),
        Row("6 load", "kubectl", "requests failed", [3], unit="", compare=False),
        Row("5 scale", "rollout_wait", "overhead", [0.0]),
        Row("5 scale", "kubectl", "overhead", [2.0]),
    ]
    assert ratios(rows) == {0: None, 1: None, 2: None, 3: None}


def test_table_has_one_line_per_row_with_runs_median_min_max_and_ratio():
    rows = [
        Row("1 new version", "deploy.yml", "command", [40.0, 44.0, 42.0]),
        Row("1 new version", "kubectl", "command", [4.0, None, 4.2], note="a note"),
    ]
    table = format_table(rows).splitlines()
    assert len(table) == 4
    assert [c.strip() for c in table[0].strip("|").split("|")] == [
        "scenario",
        "peer",
        "measure",
        "runs",
        "median",
        "min",
        "max",
        "vs fastest",
        "note",
    ]
    deploy = [c.strip() for c in table[2].strip("|").split("|")]
    assert deploy == ["1 new version", "deploy.yml", "command", "3", "42.0 s", "40.0 s", "44.0 s", "10.2x", ""]
    kubectl = [c.strip() for c in table[3].strip("|").split("|")]
    # One run gave no figure: the runs column says so.
    assert kubectl == [
        "1 new version",
        "kubectl",
        "command",
        "2 of 3",
        "4.1 s",
        "4.0 s",
        "4.2 s",
        "1.0x (fastest)",
        "a note",
    ]
    # Columns are aligned.
    assert len({len(line) for line in table}) == 1


def test_json_rows_keep_every_value_and_the_summary():
    rows = [
        Row("2 no-op redeploy", "helm", "command", [2.0, 3.0, 1.0]),
        Row("2 no-op redeploy", "kubectl", "command", [0.5]),
    ]
    out = rows_json(rows)
    assert out[0]["values"] == [2.0, 3.0, 1.0]
    assert (out[0]["median"], out[0]["min"], out[0]["max"], out[0]["runs"]) == (2.0, 1.0, 3.0, 3)
    assert out[0]["ratio_to_fastest"] == pytest.approx(4.0)
    assert out[1]["ratio_to_fastest"] == pytest.approx(1.0)
    assert rows_json([Row("x", "p", "m", [None])])[0]["median"] is None


def test_rows_are_ordered_by_scenario_number_measure_then_peer():
    rows = [
        Row("5 scale N=200", "kubectl rollout status (each)", "wait", [1]),
        Row("5 scale N=200", "rollout_wait (one call)", "wait", [1]),
        Row("5 scale N=50", "rollout_wait (one call)", "wait", [1]),
        Row("10 later", "kubectl", "command", [1]),
        Row("1 new version", "kubernetes.core", "command", [1]),
        Row("1 new version", "kubectl", "rollout", [1]),
        Row("1 new version", "deploy.yml", "command", [1]),
        Row("1 new version", "helm (default)", "command", [1]),
    ]
    ordered = [
        (r.scenario, r.peer, r.measure)
        for r in order_rows(rows, ("deploy.yml", "rollout_wait", "kubectl", "helm", "kubernetes.core"))
    ]
    assert ordered == [
        ("1 new version", "deploy.yml", "command"),
        ("1 new version", "helm (default)", "command"),
        ("1 new version", "kubernetes.core", "command"),
        ("1 new version", "kubectl", "rollout"),
        ("5 scale N=50", "rollout_wait (one call)", "wait"),
        ("5 scale N=200", "rollout_wait (one call)", "wait"),
        ("5 scale N=200", "kubectl rollout status (each)", "wait"),
        ("10 later", "kubectl", "command"),
    ]


def test_number_and_duration_formats():
    assert fmt_number(None, "s") == "-"
    assert fmt_number(4.04, "s") == "4.0 s"
    assert fmt_number(301.4, "s") == "301 s"
    assert fmt_number(3.0, "") == "3"
    assert fmt_number(2.5, "") == "2.5"
    assert fmt_duration(59.6) == "1 min 00 s"
    assert fmt_duration(1093) == "18 min 13 s"
    assert fmt_duration(42) == "42 s"


def test_compact_table_has_a_column_per_peer_family_and_folds_default_timeouts_in():
    rows = [
        Row("3 unpullable image", "deploy.yml (automatic rollback)", "failure reported", [8.1, 8.8]),
        Row("3 unpullable image", "kubectl rollout status --timeout 60s + undo", "failure reported", [61.5, 61.9]),
        Row("3 unpullable image", "helm --rollback-on-failure --timeout 60s", "failure reported", [60.2, 60.8]),
        Row("3 unpullable image", "helm --rollback-on-failure (default 5m)", "failure reported", [300.4]),
        Row(
            "3 unpullable image",
            "kubernetes.core k8s + k8s_rollback",
            "back",
            [None],
            note="not back by itself in 2 of 2 runs",
        ),
        Row("5 scale N=10", "rollout_wait (one call)", "overhead", [3.7]),
        Row("5 scale N=10", "(cluster: last rollout complete)", "s after apply", [2.1]),
        Row("6 load", "deploy.yml", "requests failed", [0], unit="", compare=False, text="0 of 1480"),
    ]
    lines = compact_table(rows).splitlines()
    assert lines[0] == "| scenario: measure | collection | kubectl | helm | kubernetes.core |"
    assert lines[2] == (
        "| 3 unpullable image: failure reported | 8.4 s (8.1-8.8 s) | 61.7 s (61.5-61.9 s) "
        "| 60.5 s (60.2-60.8 s); default timeout: 300 s |  |"
    )
    assert lines[3] == "| 3 unpullable image: back |  |  |  | not by itself |"
    assert lines[4] == "| 5 scale N=10: overhead | 3.7 s |  |  |  |"
    assert lines[5] == "| 6 load: requests failed | 0 of 1480 |  |  |  |"
    assert len(lines) == 6
