"""The monitoring role's rendered configuration against the seed spec (no cluster needed)."""

import json
import pathlib
import re
import shutil
import subprocess

import yaml

HERE = pathlib.Path(__file__).resolve().parent

# The seed (phase4-devops.md, "Alert Groups"): alert -> (group, for, threshold fragment of the expr).
SPEC_ALERTS = {
    "HighErrorRate": ("application-health", "5m", "> 0.05"),
    "ApplicationDown": ("application-health", "2m", "== 0"),
    "HighResponseTime": ("application-health", "10m", "> 1"),
    "HighCPUUsage": ("resource-utilization", "10m", "> 0.8"),
    "HighMemoryUsage": ("resource-utilization", "5m", "> 0.85"),
    "DiskSpaceLow": ("resource-utilization", "10m", "< 0.15"),
    "PostgreSQLDown": ("postgresql", "2m", "pg_up == 0"),
    "HighDatabaseConnections": ("postgresql", "5m", "> 0.8"),
    "SlowDatabaseQueries": ("postgresql", "10m", "> 30"),
    "RedisDown": ("redis", "2m", "redis_up == 0"),
    "HighRedisMemoryUsage": ("redis", "5m", "> 0.85"),
    "KubernetesPodCrashLooping": ("kubernetes-pods", "5m", "> 0"),
    "KubernetesPodNotReady": ("kubernetes-pods", "10m", "Pending"),
    "KubernetesNodeNotReady": ("kubernetes-nodes", "5m", "== 0"),
    "SSLCertificateExpiringSoon": ("ssl-certificates", "0s", "< 30 * 86400"),
    "SSLCertificateExpired": ("ssl-certificates", "0s", "<= 0"),
    "HighRequestRate": ("traffic", "5m", "> 1000"),
    "LowRequestRate": ("traffic", "15m", "< 1"),
}
GROUPS = [
    "application-health",
    "resource-utilization",
    "postgresql",
    "redis",
    "kubernetes-pods",
    "kubernetes-nodes",
    "ssl-certificates",
    "traffic",
    "monitoring",
]
SPEC_JOBS = [
    "prometheus",
    "kubernetes-apiservers",
    "kubernetes-nodes",
    "kubernetes-pods",
    "intelligent-agent-frontend",
    "intelligent-agent-backend",
    "node-exporter",
    "cadvisor",
    "postgres",
    "redis",
    "nginx",
]
SECRETS = [
    "validation-only-smtp-password-3141",
    "validation-only-5926",
    "validation-only-grafana-password-5358",
]


def load(tree, rel):
    return yaml.safe_load((tree / rel).read_text())


def rules_of(tree):
    doc = load(tree, "prometheus/rules/alerting-rules.yml")
    return doc["groups"], {r["alert"]: dict(r, group=g["name"]) for g in doc["groups"] for r in g["rules"]}


def norm_duration(value):
    return {"0m": "0s"}.get(value, value)


def test_rule_groups_and_count_match_the_spec(rendered):
    groups, rules = rules_of(rendered["production"])
    print(f"\nrendered {len(rules)} alert rules in {len(groups)} groups")
    assert [g["name"] for g in groups] == GROUPS
    assert len(rules) >= 25
    for alert, (group, duration, fragment) in SPEC_ALERTS.items():
        assert alert in rules, f"spec alert {alert} missing"
        rule = rules[alert]
        assert rule["group"] == group, alert
        assert norm_duration(rule["for"]) == duration, alert
        assert fragment in rule["expr"], f"{alert}: threshold {fragment!r} not in {rule['expr']!r}"


def test_every_rule_has_severity_summary_description_and_runbook(rendered):
    rules = rules_of(rendered["production"])[1]
    for alert, rule in rules.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, alert
        ann = rule["annotations"]
        assert ann["summary"].strip() and ann["description"].strip(), alert
        assert ann["runbook_url"].startswith("https://"), alert
    assert {r["labels"]["severity"] for r in rules.values()} == {
        "critical",
        "warning",
        "info",
    }


def test_every_alert_has_unit_test_cases(rendered):
    rules = rules_of(rendered["production"])[1]
    cases = yaml.safe_load((HERE / "rule_cases.yml").read_text())
    assert set(cases) == set(rules)
    for alert, alert_cases in cases.items():
        assert {c["kind"] for c in alert_cases} == {"firing", "silent"}, alert


def test_promtool_rule_unit_tests_pass(rendered, python, tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run hack/install-system-deps.sh"
    subprocess.run(
        [
            python,
            str(HERE / "rule_tests.py"),
            "--rules",
            str(rendered["production"] / "prometheus/rules/alerting-rules.yml"),
            "--cases",
            str(HERE / "rule_cases.yml"),
            "--output",
            str(tmp_path),
        ],
        check=True,
    )
    proc = subprocess.run(
        [promtool, "test", "rules", str(tmp_path / "tests.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rule_unit_tests_catch_a_wrong_threshold(rendered, python, tmp_path):
    """The generated tests must fail when a threshold moves (here 5 % -> 6 % for HighErrorRate)."""
    promtool = shutil.which("promtool")
    subprocess.run(
        [
            python,
            str(HERE / "rule_tests.py"),
            "--rules",
            str(rendered["production"] / "prometheus/rules/alerting-rules.yml"),
            "--cases",
            str(HERE / "rule_cases.yml"),
            "--output",
            str(tmp_path),
        ],
        check=True,
    )
    under_test = tmp_path / "rules-under-test.yml"
    text = under_test.read_text()
    assert "> 0.05" in text
    under_test.write_text(text.replace("> 0.05", "> 0.06"))
    proc = subprocess.run(
        [promtool, "test", "rules", str(tmp_path / "tests.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "HighErrorRate" in proc.stdout + proc.stderr


def test_local_rendering_shortens_every_for(rendered):
    rules = rules_of(rendered["local"])[1]
    assert {r["for"] for r in rules.values()} == {"10s"}
    config = load(rendered["local"], "prometheus/prometheus.yml")
    assert config["global"]["scrape_interval"] == "5s"
    assert "alerting" not in config  # Alertmanager is off locally


def test_prometheus_global_settings_and_jobs(rendered):
    config = load(rendered["production"], "prometheus/prometheus.yml")
    glob = config["global"]
    assert (glob["scrape_interval"], glob["evaluation_interval"]) == ("15s", "15s")
    assert glob["external_labels"] == {
        "cluster": "intelligent-agent",
        "environment": "production",
    }
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(SPEC_JOBS) <= set(jobs), set(SPEC_JOBS) - set(jobs)
    api = jobs["kubernetes-apiservers"]
    assert api["scheme"] == "https"
    assert api["tls_config"]["ca_file"].endswith("/ca.crt")
    assert api["authorization"]["credentials_file"].endswith("/token")
    for name in ("kubernetes-pods", "intelligent-agent-backend", "postgres"):
        sd = jobs[name]["kubernetes_sd_configs"][0]
        assert sd["namespaces"]["names"] == ["production"], name  # namespace filtering
        assert jobs[name]["relabel_configs"], name
    keep = jobs["kubernetes-pods"]["relabel_configs"][0]
    assert keep["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
    assert keep["action"] == "keep"


def test_alertmanager_routes_by_severity_and_inhibits_warnings(rendered):
    am = load(rendered["production"], "alertmanager/alertmanager.yml")
    routes = {r["matchers"][0]: r["receiver"] for r in am["route"]["routes"]}
    receivers = {r["name"]: r for r in am["receivers"]}
    critical = receivers[routes['severity="critical"']]
    warning = receivers[routes['severity="warning"']]
    assert critical["email_configs"] and critical["slack_configs"]
    assert warning["slack_configs"]
    assert any(
        i["source_matchers"] == ['severity="critical"'] and i["target_matchers"] == ['severity="warning"']
        for i in am["inhibit_rules"]
    )
    assert am["global"]["slack_api_url"].startswith("https://")


def test_local_alertmanager_without_credentials_has_bare_receivers(rendered):
    am = load(rendered["local"], "alertmanager/alertmanager.yml")
    assert all(set(r) == {"name"} for r in am["receivers"])


def test_secrets_stay_out_of_everything_but_the_alertmanager_config(rendered):
    tree = rendered["production"]
    assert SECRETS[0] in (tree / "alertmanager/alertmanager.yml").read_text()
    for path in tree.rglob("*"):
        if path.is_file() and path.name != "alertmanager.yml":
            text = path.read_text(errors="replace")
            for secret in SECRETS:
                assert secret not in text, f"{secret} leaked into {path.relative_to(tree)}"


def test_dashboard_has_the_required_panels_with_backend_metrics(rendered):
    dashboard = json.loads((rendered["production"] / "grafana/dashboards/intelligent-agent-app.json").read_text())
    titles = [p["title"] for p in dashboard["panels"]]
    for wanted in (
        "Request rate",
        "5xx error ratio",
        "p95 latency",
        "Pods ready",
        "HPA replicas",
        "CPU usage",
        "Memory usage",
    ):
        assert wanted in titles
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    assert "http_requests_total" in exprs and "http_request_duration_seconds_bucket" in exprs
    assert 'status=~"5.."' in exprs
    assert all(t["datasource"]["uid"] == "prometheus" for p in dashboard["panels"] for t in p["targets"])
    ds = load(rendered["production"], "grafana/provisioning/datasources/datasources.yml")
    assert ds["datasources"][0]["type"] == "prometheus"
    assert ds["datasources"][0]["url"] == "http://prometheus.monitoring.svc:9090"
    # Prometheus lives in `monitoring`; the app's series are in the app namespace.
    assert 'namespace="production"' in exprs and 'namespace="monitoring"' not in exprs


def test_standalone_manifests_follow_the_security_rules(rendered):
    docs = [d for d in yaml.safe_load_all((rendered["production"] / "manifests/prometheus.yml").read_text()) if d]
    kinds = sorted(d["kind"] for d in docs)
    # Its NetworkPolicy is in manifests/network-policies.yml (test_monitoring_network_policies.py).
    assert kinds == [
        "ConfigMap",
        "ConfigMap",
        "Deployment",
        "Service",
        "ServiceAccount",
    ]
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"]
    assert re.fullmatch(
        r"[0-9a-f]{64}",
        deploy["spec"]["template"]["metadata"]["annotations"]["checksum/config"],
    )
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "intelligent_agent.platform"


def test_cluster_role_is_read_only_without_wildcards_or_secrets(rendered):
    docs = [d for d in yaml.safe_load_all((rendered["production"] / "manifests/cluster.yml").read_text()) if d]
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        assert "*" not in rule.get("resources", []) and "*" not in rule.get("apiGroups", [])
        assert "secrets" not in rule.get("resources", [])
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}]


def test_prometheus_lives_in_its_own_namespace_and_scrapes_the_app_namespace(rendered):
    """Production layout: Prometheus in `monitoring` (where the namespace role's backend policy admits it
    from), the app and its datastore exporters in the app namespace, the cluster exporters beside Prometheus.
    """
    docs = [d for d in yaml.safe_load_all((rendered["production"] / "manifests/prometheus.yml").read_text()) if d]
    assert {d["metadata"]["namespace"] for d in docs} == {"monitoring"}
    config = load(rendered["production"], "prometheus/prometheus.yml")
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}

    def names(job):
        return jobs[job]["kubernetes_sd_configs"][0]["namespaces"]["names"]

    for job in ("intelligent-agent-backend", "kubernetes-pods", "postgres", "redis"):
        assert names(job) == ["production"], job
    for job in ("node-exporter", "kube-state-metrics"):
        assert names(job) == ["monitoring"], job
    # kube-state-metrics' namespace/pod labels describe the objects, not its own Service.
    assert jobs["kube-state-metrics"]["honor_labels"] is True
    assert "honor_labels" not in jobs["node-exporter"]
    operator = [
        d
        for d in yaml.safe_load_all((rendered["production"] / "manifests/operator.yml").read_text())
        if d and d["kind"] == "ServiceMonitor"
    ]
    ksm = next(m for m in operator if m["metadata"]["name"].endswith("-kube-state-metrics"))
    assert ksm["spec"]["namespaceSelector"]["matchNames"] == ["monitoring"]
    assert ksm["spec"]["endpoints"][0]["honorLabels"] is True


def test_operator_manifests(rendered):
    docs = [d for d in yaml.safe_load_all((rendered["production"] / "manifests/operator.yml").read_text()) if d]
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert {m["metadata"]["name"] for m in monitors} >= {
        "intelligent-agent-frontend",
        "intelligent-agent-backend",
    }
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    rules = rules_of(rendered["production"])[1]
    assert sum(len(g["rules"]) for g in rule["spec"]["groups"]) == len(rules)
