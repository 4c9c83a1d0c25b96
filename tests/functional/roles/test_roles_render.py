"""Rendered manifests of the namespace, secrets, config and app roles per inventory (no cluster)."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from roles_helpers import FAKE_SECRETS, ROOT, find, render
from seed_expectations import (
    SEED_SECRET_KEYS,
    assert_edge,
    assert_labels,
    assert_namespace_objects,
    assert_workloads,
)


@pytest.fixture(scope="module")
def fake_secrets() -> dict:
    return yaml.safe_load(FAKE_SECRETS.read_text())


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    return render(tmp_path_factory.mktemp("production"), "production")


@pytest.fixture(scope="module")
def staging(tmp_path_factory):
    return render(tmp_path_factory.mktemp("staging"), "staging")


def test_production_renders_the_seed_numbers(production):
    assert_workloads(production, custom_metrics=True, vpa=True)
    assert_edge(production, issuers=True)
    assert_namespace_objects(production, "production")
    assert_labels(production)


def test_the_load_balancer_listens_on_443_only_with_a_certificate(tmp_path):
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    docs = render(tmp_path, "production", {"app_load_balancer_ssl_certificate_arn": arn})
    lb = find(docs, "Service", "intelligent-agent-lb")
    assert {p["port"] for p in lb["spec"]["ports"]} == {80, 443}
    annotations = lb["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] == arn
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"] == "443"


def test_production_secrets_hold_every_seed_key_and_registry_credentials(production, fake_secrets):
    secret = next(d for d in production if d["kind"] == "Secret" and d["type"] == "Opaque")
    assert set(secret["data"]) == SEED_SECRET_KEYS
    assert secret["immutable"] is True
    assert base64.b64decode(secret["data"]["JWT_SECRET"]).decode() == fake_secrets["secrets_values"]["JWT_SECRET"]
    registry = find(production, "Secret", "intelligent-agent-registry")
    assert registry["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(registry["data"][".dockerconfigjson"]))["auths"]
    assert auths["registry.intelligent-agent.test"]["username"] == "deploy-bot"
    backend = find(production, "Deployment", "backend")["spec"]["template"]["spec"]
    env_from = backend["containers"][0]["envFrom"]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in env_from
    configmap = next(
        d
        for d in production
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("intelligent-agent-config-")
    )
    assert {"configMapRef": {"name": configmap["metadata"]["name"]}} in env_from
    assert len(configmap["data"]) >= 40
    assert backend["imagePullSecrets"] == [{"name": "intelligent-agent-registry"}]
    # Deploy by digest (app_images), not by tag.
    assert "@sha256:" in backend["containers"][0]["image"]


def test_staging_differs_only_in_replicas_hosts_and_issuer(production, staging):
    def by_key(docs):
        return {(d["kind"], d["metadata"]["name"]): d for d in docs}

    prod, stage = by_key(production), by_key(staging)
    assert find(staging, "Deployment", "frontend")["spec"]["replicas"] < 3
    assert find(staging, "Deployment", "backend")["spec"]["replicas"] < 5
    ingress = find(staging, "Ingress", "intelligent-agent")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-staging"
    assert {r["host"] for r in ingress["spec"]["rules"]} == {
        "staging.intelligent-agent.com",
        "www.staging.intelligent-agent.com",
        "api.staging.intelligent-agent.com",
    }
    # Same resources, probes and security settings as production.
    for name in ("frontend", "backend"):
        p = prod[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
        s = stage[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
        for field in (
            "resources",
            "livenessProbe",
            "readinessProbe",
            "securityContext",
        ):
            assert p[field] == s[field], (name, field)


def test_local_uses_nodeports_local_images_and_no_tls(tmp_path):
    docs = render(tmp_path, "local", secrets=False)
    assert find(docs, "Namespace")["metadata"]["name"] == "intelligent-agent"
    frontend = find(docs, "Service", "frontend")["spec"]
    backend = find(docs, "Service", "backend")["spec"]
    assert (frontend["type"], frontend["ports"][0]["nodePort"]) == ("NodePort", 30080)
    assert (backend["type"], backend["ports"][0]["nodePort"]) == ("NodePort", 30500)
    for name in ("frontend", "backend"):
        deployment = find(docs, "Deployment", name)["spec"]
        assert 1 <= deployment["replicas"] <= 2
        assert deployment["template"]["spec"]["containers"][0]["image"].startswith(
            f"127.0.0.1:5000/intelligent-agent/{name}"
        )
        assert deployment["template"]["spec"]["containers"][0]["readinessProbe"]["initialDelaySeconds"] <= 5
    ingress = find(docs, "Ingress")
    assert "tls" not in ingress["spec"] and "cert-manager.io/cluster-issuer" not in ingress["metadata"]["annotations"]
    assert not [d for d in docs if d["kind"] == "Service" and d["spec"]["type"] == "LoadBalancer"]
    assert find(docs, "Secret")["type"] == "Opaque"  # the vaulted demo values; no registry credentials locally


def test_a_third_component_needs_no_template_change(tmp_path):
    from seed_expectations import pick

    worker = {
        "name": "worker",
        "image": "127.0.0.1:5000/intelligent-agent/backend:1.2.3",
        "container_port": 5001,
        "replicas": 2,
        "service": {"enabled": False},
        "writable_dirs": [{"path": "/tmp"}, {"path": "/var/run/worker"}],
    }
    defaults = yaml.safe_load((ROOT / "roles" / "app" / "defaults" / "main.yml").read_text())["app_components"]
    docs = render(tmp_path, "production", {"app_components": defaults + [worker]})
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} == {
        "frontend",
        "backend",
        "worker",
    }
    deployment = pick(docs, "Deployment", "worker")
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {m["mountPath"] for m in container["volumeMounts"]} == {
        "/tmp",
        "/var/run/worker",
    }
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert not [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "worker"]


def test_configmap_name_follows_its_content(tmp_path):
    def configmap_name(extra):
        docs = render(tmp_path, "production", extra)
        return next(
            d["metadata"]["name"]
            for d in docs
            if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("intelligent-agent-config-")
        )

    first = configmap_name({})
    assert configmap_name({}) == first
    assert configmap_name({"config_overrides": {"LOG_LEVEL": "warn"}}) != first


def test_platform_components_restricts_the_workloads_not_the_shared_ingress(tmp_path):
    docs = render(tmp_path, "production", {"platform_components": "backend"})
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} == {"backend"}
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"} == {"backend"}
    ingress = find(docs, "Ingress", "intelligent-agent")
    assert len(ingress["spec"]["rules"]) == 3
