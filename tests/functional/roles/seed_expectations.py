"""The seed's production numbers (../shared/seed/phase4-devops.md, "Kubernetes Manifests"), asserted on
objects either rendered by the roles (unit tests) or read back from the API server (integration tests).
Quantities are compared by value: the API server canonicalises 1000m to 1."""

from __future__ import annotations

from decimal import Decimal

SEED_SECRET_KEYS = {
    "DATABASE_URL",
    "DATABASE_USER",
    "DATABASE_PASSWORD",
    "REDIS_URL",
    "REDIS_PASSWORD",
    "JWT_SECRET",
    "JWT_REFRESH_SECRET",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "SENDGRID_API_KEY",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SENTRY_DSN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_S3_BUCKET",
    "AWS_CLOUDFRONT_DISTRIBUTION_ID",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "GOOGLE_CLIENT_ID",
    "GOOGLE_CLIENT_SECRET",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
    "SESSION_SECRET",
    "ENCRYPTION_KEY",
    "ENCRYPTION_IV",
    "GRAFANA_ADMIN_USER",
    "GRAFANA_ADMIN_PASSWORD",
}
PRODUCTION_HOSTS = {
    "intelligent-agent.com",
    "www.intelligent-agent.com",
    "api.intelligent-agent.com",
}

_SUFFIX = {
    "m": Decimal("0.001"),
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
}


def quantity(value) -> Decimal:
    """Kubernetes quantity -> Decimal (cores or bytes)."""
    text = str(value)
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * Decimal(_SUFFIX[suffix])
    return Decimal(text)


def same_quantities(actual: dict, expected: dict) -> bool:
    return set(actual) == set(expected) and all(quantity(actual[k]) == quantity(expected[k]) for k in expected)


def pick(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
    return found[0]


def _container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _policies(rules: dict) -> set:
    return {(p["type"], p["value"], p["periodSeconds"]) for p in rules["policies"]}


def assert_workloads(objects: list[dict], *, custom_metrics: bool, vpa: bool) -> None:
    """Deployments, Services, HPAs, PDBs and the VPA carry the seed's numbers."""
    expected = {
        "frontend": dict(
            replicas=3,
            surge=1,
            unavailable=0,
            requests={"cpu": "250m", "memory": "256Mi"},
            limits={"cpu": "500m", "memory": "512Mi"},
            port=8080,
            service_port=80,
            hpa=(3, 10, 70, 80),
            up=({("Percent", 50, 60), ("Pods", 2, 60)}, "Max"),
            down=({("Percent", 10, 60), ("Pods", 1, 60)}, 300),
            pdb=2,
        ),
        "backend": dict(
            replicas=5,
            surge=2,
            unavailable=1,
            requests={"cpu": "500m", "memory": "512Mi"},
            limits={"cpu": "1000m", "memory": "1Gi"},
            port=5000,
            service_port=5000,
            hpa=(5, 20, 70, 75),
            up=({("Percent", 100, 30), ("Pods", 4, 30)}, "Max"),
            down=({("Percent", 10, 60), ("Pods", 2, 60)}, 300),
            pdb=3,
        ),
    }
    for name, e in expected.items():
        deployment = pick(objects, "Deployment", name)
        spec = deployment["spec"]
        assert spec["replicas"] == e["replicas"], name
        assert spec["strategy"]["type"] == "RollingUpdate"
        assert spec["strategy"]["rollingUpdate"] == {
            "maxSurge": e["surge"],
            "maxUnavailable": e["unavailable"],
        }, name
        container = _container(deployment)
        assert same_quantities(container["resources"]["requests"], e["requests"]), (
            name,
            container["resources"],
        )
        assert same_quantities(container["resources"]["limits"], e["limits"]), (
            name,
            container["resources"],
        )
        assert container["ports"][0]["containerPort"] == e["port"]
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["initialDelaySeconds"] == 30, (name, probe)
            assert container[probe]["periodSeconds"] == 10, (name, probe)
        security = container["securityContext"]
        assert security["runAsUser"] == 1001 and security["runAsNonRoot"] is True
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["seccompProfile"]["type"] == "RuntimeDefault"
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["securityContext"]["runAsUser"] == 1001
        assert pod["automountServiceAccountToken"] is False
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]], name

        service = pick(objects, "Service", name)
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["ports"][0]["port"] == e["service_port"]
        assert service["spec"]["sessionAffinity"] == "ClientIP"
        assert service["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] == 10800

        hpa = pick(objects, "HorizontalPodAutoscaler", name)["spec"]
        low, high, cpu, memory = e["hpa"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (low, high), name
        resources = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["metrics"] if m["type"] == "Resource"}
        assert resources["cpu"] == {"type": "Utilization", "averageUtilization": cpu}
        assert resources["memory"] == {
            "type": "Utilization",
            "averageUtilization": memory,
        }
        pods_metrics = [m for m in hpa["metrics"] if m["type"] == "Pods"]
        if name == "backend" and custom_metrics:
            assert len(pods_metrics) == 1
            assert quantity(pods_metrics[0]["pods"]["target"]["averageValue"]) == 100
        else:
            assert pods_metrics == []
        up_policies, up_select = e["up"]
        assert (
            _policies(hpa["behavior"]["scaleUp"]) == up_policies
            and hpa["behavior"]["scaleUp"]["selectPolicy"] == up_select
        )
        down_policies, window = e["down"]
        assert _policies(hpa["behavior"]["scaleDown"]) == down_policies
        assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == window

        assert pick(objects, "PodDisruptionBudget", name)["spec"]["minAvailable"] == e["pdb"]

    vpas = [o for o in objects if o["kind"] == "VerticalPodAutoscaler"]
    if vpa:
        assert [v["metadata"]["name"] for v in vpas] == ["backend"]
        policy = vpas[0]["spec"]["resourcePolicy"]["containerPolicies"][0]
        assert same_quantities(policy["minAllowed"], {"cpu": "250m", "memory": "256Mi"})
        assert same_quantities(policy["maxAllowed"], {"cpu": "2000m", "memory": "2Gi"})
        assert vpas[0]["spec"]["updatePolicy"]["updateMode"] == "Auto"
    else:
        assert vpas == []


def assert_edge(objects: list[dict], *, issuers: bool) -> None:
    """LoadBalancer with the NLB annotations, the nginx Ingress and the ClusterIssuers."""
    lb = pick(objects, "Service", "intelligent-agent-lb")
    assert lb["spec"]["type"] == "LoadBalancer"
    # No certificate in the defaults: no 443 listener, which would serve plain HTTP (see the ARN test).
    assert {p["port"] for p in lb["spec"]["ports"]} == {80}
    assert "service.beta.kubernetes.io/aws-load-balancer-ssl-ports" not in lb["metadata"]["annotations"]
    annotations = lb["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled"] == "true"
    assert lb["spec"]["sessionAffinity"] == "ClientIP"

    ingress = pick(objects, "Ingress", "intelligent-agent")
    a = ingress["metadata"]["annotations"]
    assert a["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert a["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert a["nginx.ingress.kubernetes.io/limit-rps"] == "100"
    assert a["nginx.ingress.kubernetes.io/limit-connections"] == "50"
    assert a["nginx.ingress.kubernetes.io/enable-cors"] == "true"
    for timeout in ("connect", "send", "read"):
        assert a[f"nginx.ingress.kubernetes.io/proxy-{timeout}-timeout"] == "60"
    assert a["nginx.ingress.kubernetes.io/proxy-body-size"] == "10m"
    headers = pick(objects, "ConfigMap", "intelligent-agent-security-headers")["data"]
    assert a["nginx.ingress.kubernetes.io/custom-headers"].endswith("/intelligent-agent-security-headers")
    assert {
        "X-Frame-Options",
        "Content-Security-Policy",
        "Strict-Transport-Security",
    } <= set(headers)
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert set(spec["tls"][0]["hosts"]) == PRODUCTION_HOSTS
    routes = {r["host"]: r["http"]["paths"][0]["backend"]["service"]["name"] for r in spec["rules"]}
    assert routes == {
        "intelligent-agent.com": "frontend",
        "www.intelligent-agent.com": "frontend",
        "api.intelligent-agent.com": "backend",
    }
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "ClusterIssuer"}
    assert names == ({"letsencrypt-prod", "letsencrypt-staging"} if issuers else set())


def assert_namespace_objects(objects: list[dict], namespace: str, *, with_namespace: bool = True) -> None:
    if with_namespace:
        labels = pick(objects, "Namespace", namespace)["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels["environment"] == "production"
    quota = pick(objects, "ResourceQuota", "intelligent-agent-quota")["spec"]["hard"]
    assert {
        "requests.cpu",
        "requests.memory",
        "limits.cpu",
        "limits.memory",
        "pods",
    } <= set(quota)
    limits = pick(objects, "LimitRange", "intelligent-agent-limits")["spec"]["limits"][0]
    assert limits["type"] == "Container" and {
        "default",
        "defaultRequest",
        "max",
    } <= set(limits)
    deny = pick(objects, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny["podSelector"] in ({}, {"matchLabels": None}) or not deny["podSelector"]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"} and not deny.get("ingress") and not deny.get("egress")
    backend = pick(objects, "NetworkPolicy", "allow-backend-ingress")["spec"]
    assert backend["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "backend"}
    assert backend["ingress"][0]["ports"][0]["port"] == 5000
    assert {"app.kubernetes.io/name": "frontend"} in [
        f.get("podSelector", {}).get("matchLabels") for f in backend["ingress"][0]["from"]
    ]
    dns = pick(objects, "NetworkPolicy", "allow-dns-egress")["spec"]
    assert {p["port"] for p in dns["egress"][0]["ports"]} == {53}
    role = pick(objects, "Role", "intelligent-agent-deployer")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
        if "secrets" in rule["resources"]:
            assert "watch" not in rule["verbs"], "watch on Secrets streams every value"
    pick(objects, "RoleBinding", "intelligent-agent-deployer")
    pick(objects, "ServiceAccount", "intelligent-agent-deployer")


def assert_labels(objects: list[dict]) -> None:
    """docs/interfaces.md: the label set on every object; the version label on workloads."""
    for obj in objects:
        labels = obj["metadata"].get("labels") or {}
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert labels.get("app.kubernetes.io/part-of") == "intelligent-agent", where
        assert labels.get("app.kubernetes.io/managed-by") == "intelligent_agent.platform", where
        assert labels.get("app.kubernetes.io/name") and labels.get("app.kubernetes.io/component"), where
        if obj["kind"] != "ClusterIssuer":
            assert labels.get("environment") == "production", where
        if obj["kind"] == "Deployment":
            assert labels.get("app.kubernetes.io/version"), where
