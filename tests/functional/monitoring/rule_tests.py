"""Generate a `promtool test rules` file from rule_cases.yml and the rendered alerting rules.

For every alert of the rendered rules file and every case of rule_cases.yml:
  firing case: the alert is NOT firing one minute before its `for` has elapsed (when `for` >= 2m),
               and IS firing, with the expected labels, at `for` + SETTLE;
  silent case: the alert is not firing at `for` + SETTLE nor ten minutes later.
SETTLE (5 minutes) covers the time rate()/increase() windows need before the condition holds.

promtool compares annotations exactly, so the rules under test are the rendered rules with their
annotations removed (written next to the tests); expressions, `for` and labels are untouched.
An alert without cases, or a case for an unknown alert, is an error.
"""

import argparse
import pathlib
import re
import sys

import yaml

SETTLE_S = 300
UNITS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "y": 31536000,
}


def parse_duration(text):
    """Parse a Prometheus duration such as 1h30m or 0s into seconds."""
    text = str(text).strip()
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * UNITS[u] for n, u in parts)


def fmt(seconds):
    return f"{int(seconds)}s"


def load_rules(path):
    doc = yaml.safe_load(pathlib.Path(path).read_text())
    rules = {}
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rules[rule["alert"]] = dict(rule, group=group["name"])
    return doc, rules


def strip_annotations(doc):
    stripped = {"groups": []}
    for group in doc["groups"]:
        rules = [{k: v for k, v in r.items() if k != "annotations"} for r in group["rules"]]
        stripped["groups"].append(dict(group, rules=rules))
    return stripped


def build_tests(rules, cases):
    missing = sorted(set(rules) - set(cases))
    unknown = sorted(set(cases) - set(rules))
    if missing or unknown:
        raise SystemExit(
            f"rule_cases.yml out of sync: alerts without cases {missing}, cases for unknown alerts {unknown}"
        )
    tests = []
    for alert in sorted(rules):
        rule = rules[alert]
        for_s = parse_duration(rule.get("for", "0s"))
        kinds = {c["kind"] for c in cases[alert]}
        if kinds != {"firing", "silent"}:
            raise SystemExit(f"{alert}: needs at least one firing and one silent case, has {sorted(kinds)}")
        for index, case in enumerate(cases[alert]):
            checks = []
            if case["kind"] == "firing":
                labels = {
                    "severity": rule["labels"]["severity"],
                    **{k: str(v) for k, v in case.get("labels", {}).items()},
                }
                if for_s >= 120:
                    checks.append(
                        {
                            "eval_time": fmt(for_s - 60),
                            "alertname": alert,
                            "exp_alerts": [],
                        }
                    )
                checks.append(
                    {
                        "eval_time": fmt(for_s + SETTLE_S),
                        "alertname": alert,
                        "exp_alerts": [{"exp_labels": labels}],
                    }
                )
            else:
                for t in (for_s + SETTLE_S, for_s + SETTLE_S + 600):
                    checks.append({"eval_time": fmt(t), "alertname": alert, "exp_alerts": []})
            tests.append(
                {
                    "name": f"{alert} {case['kind']} #{index + 1}",
                    "interval": "1m",
                    "input_series": case["series"],
                    "alert_rule_test": checks,
                }
            )
    return tests


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", required=True)
    parser.add_argument("--cases", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    doc, rules = load_rules(args.rules)
    cases = yaml.safe_load(pathlib.Path(args.cases).read_text())
    tests = build_tests(rules, cases)
    out = pathlib.Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rules-under-test.yml").write_text(yaml.safe_dump(strip_annotations(doc), sort_keys=False, width=100000))
    (out / "tests.yml").write_text(
        yaml.safe_dump(
            {
                "rule_files": ["rules-under-test.yml"],
                "evaluation_interval": "1m",
                "tests": tests,
            },
            sort_keys=False,
            width=100000,
        )
    )
    print(
        f"rule_tests: {len(rules)} alerts, {len(tests)} test groups, "
        f"{sum(len(t['alert_rule_test']) for t in tests)} checks -> {out / 'tests.yml'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
