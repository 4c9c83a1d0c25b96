"""The monitoring role's NetworkPolicies (manifests/network-policies.yml of the rendered trees, no cluster).

tests/integration/monitoring/test_monitoring.py runs the same policies on the enforcing local cluster:
Prometheus still scrapes the backend, the API server and the host exporters through them.
"""

from pathlib import Path

import yaml

from support.runner import ROOT, run_playbook

HERE = Path(__file__).resolve().parent

PRIVATE_RANGES = ["10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16"]
DNS = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def policies(tree):
    docs = yaml.safe_load_all((tree / "manifests/network-policies.yml").read_text())
    return {d["metadata"]["name"]: d for d in docs if d}


def pods(name):
    return {"matchLabels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "intelligent-agent"}}


def namespace(name):
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def tcp(*ports):
    return [{"port": p, "protocol": "TCP"} for p in ports]


def test_production_denies_by_default_and_allows_each_component_only_its_traffic(rendered):
    found = policies(rendered["production"])
    assert set(found) == {"default-deny-all", "prometheus", "alertmanager", "grafana"}
    for doc in found.values():
        assert doc["metadata"]["namespace"] == "monitoring"
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "intelligent_agent.platform"
        assert doc["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert found["default-deny-all"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    prometheus = found["prometheus"]["spec"]
    assert prometheus["podSelector"] == pods("prometheus")
    assert prometheus["ingress"] == [
        {"from": [{"podSelector": pods("grafana")}, namespace("ingress-nginx")], "ports": tcp(9090)}
    ]
    targets, nodes, alertmanager, dns = prometheus["egress"]
    # Scrape targets: pods of its own namespace (exporters) and of the app namespace, on any port (annotations).
    assert targets == {"to": [namespace("monitoring"), namespace("production")]}
    assert nodes == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp(443, 6443, 9100, 8080)}
    assert alertmanager == {"to": [{"podSelector": pods("alertmanager")}], "ports": tcp(9093)}
    assert dns == DNS

    am = found["alertmanager"]["spec"]
    assert am["ingress"] == [{"from": [{"podSelector": pods("prometheus")}], "ports": tcp(9093)}]
    assert am["egress"] == [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_RANGES}}], "ports": tcp(587, 465, 25, 443)},
        DNS,
    ]

    grafana = found["grafana"]["spec"]
    assert grafana["ingress"] == [{"from": [namespace("ingress-nginx")], "ports": tcp(3000)}]
    assert grafana["egress"] == [{"to": [{"podSelector": pods("prometheus")}], "ports": tcp(9090)}, DNS]


def test_every_egress_rule_names_ports_or_namespaces(rendered):
    """No rule reaches every port of every address (an empty `to` and `ports` would)."""
    for tree in rendered.values():
        for name, doc in policies(tree).items():
            for rule in doc["spec"].get("egress", []):
                assert rule.get("ports") or rule.get("to"), name
                for peer in rule.get("to", []):
                    if "ipBlock" in peer:
                        assert rule.get("ports"), f"{name}: an ipBlock without ports"


def test_local_renders_only_the_parts_it_runs(rendered):
    """Locally Alertmanager and Grafana are off: their policies and the peers naming them go too."""
    found = policies(rendered["local"])
    assert set(found) == {"default-deny-all", "prometheus"}
    prometheus = found["prometheus"]["spec"]
    assert prometheus["ingress"] == [{"from": [namespace("ingress-nginx")], "ports": tcp(9090)}]
    assert [r.get("ports") for r in prometheus["egress"]] == [None, tcp(443, 6443, 9100, 8080), DNS["ports"]]


def render_policies(tmp_path, **variables):
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("x")
    (sa / "ca.crt").write_text("")
    extra = {
        "platform_environment": "staging",
        "platform_namespace": "app",
        "monitoring_render_dir": str(tmp_path / "out"),
        "monitoring_prometheus_config_dir": str(tmp_path / "out" / "prometheus"),
        "monitoring_serviceaccount_dir": str(sa),
        **variables,
    }
    proc = run_playbook(HERE / "render.yml", inventory=ROOT / "inventories" / "local", extra_vars=extra)
    return proc, " ".join((proc.stdout + proc.stderr).split())


def test_switches_and_peers(tmp_path):
    proc, output = render_policies(
        tmp_path,
        monitoring_namespace_create=False,
        monitoring_ingress_controller_namespace="",
        monitoring_network_policy_ui_peers=[{"ipBlock": {"cidr": "198.51.100.0/24"}}],
        monitoring_network_policy_node_cidrs=["192.0.2.0/24"],
        monitoring_scrape_namespaces=["app", "shop"],
        monitoring_alertmanager_enabled=True,
        monitoring_grafana_enabled=False,
    )
    assert proc.returncode == 0, output[-3000:]
    found = policies(tmp_path / "out")
    # The role does not own the namespace: no default-deny for workloads it does not manage.
    assert set(found) == {"prometheus", "alertmanager"}
    prometheus = found["prometheus"]["spec"]
    assert prometheus["ingress"] == [{"from": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": tcp(9090)}]
    assert prometheus["egress"][0]["to"] == [namespace(n) for n in ("monitoring", "app", "shop")]
    assert prometheus["egress"][1]["to"] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}]


def test_preflight_refuses_a_smarthost_port_the_policy_blocks(tmp_path):
    proc, output = render_policies(
        tmp_path,
        monitoring_alertmanager_enabled=True,
        monitoring_alertmanager_email_to="oncall@example.com",
        monitoring_alertmanager_smtp_smarthost="smtp.example.com:2525",
    )
    assert proc.returncode != 0
    assert "must include the port of monitoring_alertmanager_smtp_smarthost (2525)" in output, output[-3000:]
