"""The namespace role's NetworkPolicies as rendered for production (render-only switch, no cluster).

What the backend may reach outside the cluster (HTTPS and SMTP to everything but the cluster's networks),
where Prometheus may scrape it from (the monitoring role's namespace), and the preflight's refusals.
tests/integration/policies/test_namespace_policies.py proves the same rules with real traffic.
"""

from __future__ import annotations

import pytest

from roles_helpers import FAKE_SECRETS, PLAYBOOKS, find, render, run_playbook

PRIVATE_RANGES = ["10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16"]


def policies(docs: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}


def prometheus_peers(spec: dict) -> list[dict]:
    return [
        peer
        for peer in spec["ingress"][0]["from"]
        if peer.get("podSelector", {}).get("matchLabels") == {"app.kubernetes.io/name": "prometheus"}
    ]


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    return policies(render(tmp_path_factory.mktemp("production-policies"), "production"))


def test_backend_reaches_https_and_smtp_outside_the_cluster_only(production):
    spec = production["allow-backend-egress-external"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "backend"}}
    assert spec["policyTypes"] == ["Egress"]
    (rule,) = spec["egress"]
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}, {"port": 587, "protocol": "TCP"}]
    assert rule["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_RANGES}}]


def test_datastores_keep_their_ports_and_any_destination(production):
    (rule,) = production["allow-backend-egress-datastores"]["egress"]
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}, {"port": 6379, "protocol": "TCP"}]
    assert not rule.get("to"), "an empty peer list (any destination) is today's behaviour"


def test_only_the_backend_and_dns_have_egress_beyond_the_namespace(production):
    egress = {name: spec for name, spec in production.items() if "Egress" in spec["policyTypes"]}
    assert set(egress) == {
        "default-deny-all",
        "allow-frontend-egress-backend",
        "allow-backend-egress-datastores",
        "allow-backend-egress-external",
        "allow-dns-egress",
    }
    assert production["default-deny-all"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # Every egress rule names its ports: no policy opens every port to anywhere.
    for name, spec in egress.items():
        for rule in spec.get("egress", []):
            assert rule.get("ports"), name


def test_prometheus_is_admitted_from_the_monitoring_namespace(production):
    assert prometheus_peers(production["allow-backend-ingress"]) == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]


def test_monitoring_namespace_follows_the_monitoring_role_and_cidrs_are_configurable(tmp_path):
    docs = render(
        tmp_path,
        "production",
        {
            "monitoring_namespace": "observability",
            "namespace_cluster_cidrs": ["10.88.0.0/16", "10.96.0.0/16", "10.244.0.0/16"],
            "namespace_egress_external_cidrs": ["0.0.0.0/0", "203.0.113.0/24"],
            "namespace_egress_external_ports": [{"port": 443, "protocol": "TCP"}],
            "namespace_egress_datastore_peers": [{"ipBlock": {"cidr": "198.51.100.10/32"}}],
        },
    )
    found = policies(docs)
    (peer,) = prometheus_peers(found["allow-backend-ingress"])
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "observability"}
    (rule,) = found["allow-backend-egress-external"]["egress"]
    assert rule == {
        "ports": [{"port": 443, "protocol": "TCP"}],
        "to": [
            {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.88.0.0/16", "10.96.0.0/16", "10.244.0.0/16"]}},
            {"ipBlock": {"cidr": "203.0.113.0/24"}},
        ],
    }
    assert found["allow-backend-egress-datastores"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "198.51.100.10/32"}}]
    assert find(docs, "Namespace")["metadata"]["name"] == "production"


def test_an_explicit_namespace_monitoring_namespace_wins(tmp_path):
    variables = {"monitoring_namespace": "observability", "namespace_monitoring_namespace": "prom"}
    found = policies(render(tmp_path, "production", variables))
    (peer,) = prometheus_peers(found["allow-backend-ingress"])
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "prom"}


@pytest.mark.parametrize(
    "extra, expected",
    [
        (
            {"namespace_egress_external_cidrs": ["10.1.0.0/16"]},
            "namespace_egress_external_cidrs: 10.1.0.0/16 lies inside 10.0.0.0/8 of namespace_cluster_cidrs",
        ),
        ({"namespace_cluster_cidrs": ["10.0.0.1/8"]}, "namespace_cluster_cidrs: '10.0.0.1/8' is not a network"),
        ({"namespace_egress_external_ports": []}, "namespace_egress_external_ports must list at least one"),
    ],
)
def test_preflight_refuses_external_egress_that_would_reach_the_cluster_or_every_port(tmp_path, extra, expected):
    proc = run_playbook(
        PLAYBOOKS / "render.yml",
        "production",
        {"render_dir": str(tmp_path), "platform_version": "1.2.3", **extra},
        [FAKE_SECRETS],
    )
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, output[-3000:]
    assert expected in output, output[-3000:]
    assert not (tmp_path / "manifests.yaml").exists()
