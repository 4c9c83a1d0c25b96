"""The monitoring role against the real local cluster: a real Prometheus scrapes the demo backend.

One module-scoped deployment (admin kubeconfig, standalone mode) serves the tests in order:
target up, every dashboard query valid, the alert rules loaded, a second run changes nothing,
ApplicationDown fires after the backend is scaled to zero. A separate test runs the role with the
least-privilege deployer kubeconfig: the namespaced parts apply, the ClusterRole part fails naming
the missing permission.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
REGISTRY = "127.0.0.1:5000"
PROMETHEUS_IMAGE = f"{REGISTRY}/monitoring/prometheus:v2.53.4-local"
BUILD_BINARIES = ROOT / "roles/monitoring/files/prometheus-image/build-binaries.sh"
BACKEND_JOB = "intelligent-agent-backend"

PLAYBOOK = """
- name: Run the monitoring role
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  module_defaults:
    group/intelligent_agent.platform.k8s:
      kubeconfig: "{{ test_kubeconfig }}"
  roles:
    - role: intelligent_agent.platform.monitoring
"""


def run(cmd, timeout=600, check=True, env=None):
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def recap(output):
    match = re.search(
        r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
        output,
    )
    assert match, f"no PLAY RECAP in:\n{output[-3000:]}"
    return dict(
        zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()))
    )


class Role:
    """Runs the monitoring role with ansible-playbook and a vars file."""

    def __init__(self, workdir: Path, kubeconfig: Path, variables: dict):
        self.workdir = workdir
        self.playbook = workdir / "monitoring.yml"
        self.playbook.write_text(PLAYBOOK)
        self.vars_file = workdir / "vars.yml"
        self.vars_file.write_text(
            yaml.safe_dump(dict(variables, test_kubeconfig=str(kubeconfig)))
        )
        self.env = dict(
            os.environ,
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_FORCE_COLOR="0",
            PATH=f"{ROOT / '.venv/bin'}:{os.environ.get('PATH', '')}",
        )

    def run(self, *extra, check=True, timeout=600):
        started = time.monotonic()
        proc = run(
            [
                "ansible-playbook",
                "-i",
                "localhost,",
                str(self.playbook),
                "-e",
                f"@{self.vars_file}",
                *extra,
            ],
            timeout=timeout,
            check=False,
            env=self.env,
        )
        elapsed = time.monotonic() - started
        output = proc.stdout + proc.stderr
        if check:
            assert proc.returncode == 0, output[-6000:]
        return proc.returncode, output, elapsed


def prom_get(base, path, params=None, timeout=10):
    url = f"{base}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_for(what, predicate, timeout, interval=2):
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return time.monotonic() - started
        except (
            OSError,
            ValueError,
            KeyError,
        ) as exc:  # Prometheus still starting, connection refused
            last = exc
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


@pytest.fixture(scope="module")
def prometheus_image(cluster):
    """Upstream prometheus (with Kubernetes discovery) for the image's bin/ (cached Go build)."""
    started = time.monotonic()
    bindir = run([str(BUILD_BINARIES)], timeout=2400).stdout.strip().splitlines()[-1]
    print(f"\nprometheus binaries ready in {time.monotonic() - started:.1f}s: {bindir}")
    return Path(bindir) / "prometheus"


@pytest.fixture(scope="module")
def backend_image(cluster):
    tag = f"{REGISTRY}/it-monitoring/backend:{uuid.uuid4().hex[:8]}"
    base = f"{REGISTRY}/base/debian-python:bookworm"
    started = time.monotonic()
    run(
        [
            "docker",
            "build",
            "-q",
            "--build-arg",
            f"BUILD_IMAGE={base}",
            "--build-arg",
            f"RUNTIME_IMAGE={base}",
            "-t",
            tag,
            str(ROOT / "examples/demo-app/backend"),
        ],
        timeout=900,
    )
    for attempt in range(3):  # the shared local registry hiccups under parallel pushes
        if (
            run(
                ["docker", "push", "-q", tag], timeout=300, check=attempt == 2
            ).returncode
            == 0
        ):
            break
        time.sleep(3)
    print(
        f"\nbackend image {tag} built and pushed in {time.monotonic() - started:.1f}s"
    )
    return tag


def backend_manifests(namespace, image, name, component, node_selector):
    labels = {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/part-of": "intelligent-agent",
    }
    annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "5000",
        "prometheus.io/path": "/metrics",
    }
    container = {
        "name": "backend",
        "image": image,
        "ports": [{"name": "http", "containerPort": 5000}],
        "env": [{"name": "READY_CHECK_DEPENDENCIES", "value": "false"}],
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": 2,
        },
        "resources": {
            "requests": {"cpu": "20m", "memory": "32Mi"},
            "limits": {"cpu": "300m", "memory": "128Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 1001,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels, "annotations": annotations},
                    "spec": {
                        "nodeSelector": node_selector,
                        "containers": [container],
                        "securityContext": {
                            "seccompProfile": {"type": "RuntimeDefault"}
                        },
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": 5000, "targetPort": "http"}],
            },
        },
    ]


def role_vars(namespace, node_selector, binary, **extra):
    return {
        "platform_environment": "local",
        "platform_name": "intelligent-agent",
        "monitoring_namespace": namespace,
        "monitoring_scrape_namespaces": [namespace],
        "monitoring_cluster_name": "local",
        "monitoring_scrape_interval": "3s",
        "monitoring_scrape_timeout": "2s",
        "monitoring_evaluation_interval": "3s",
        "monitoring_alert_for_override": "6s",
        "monitoring_alertmanager_enabled": False,
        "monitoring_grafana_enabled": False,
        "monitoring_prometheus_image": PROMETHEUS_IMAGE,
        "monitoring_prometheus_image_build": True,
        "monitoring_prometheus_image_binary": str(
            binary
        ),  # the path the fixture built (the role also accepts "upstream")
        "monitoring_prometheus_service_type": "NodePort",
        "monitoring_prometheus_resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "monitoring_prometheus_storage_size": "512Mi",
        "monitoring_node_selector": node_selector,
        "monitoring_wait_timeout": 180,
        **extra,
    }


@pytest.fixture(scope="module")
def deployed(cluster, tmp_path_factory, prometheus_image, backend_image):
    """Backend + an annotation-only pod + Prometheus (admin kubeconfig) in a fresh namespace."""
    namespace = f"it-monitoring-{uuid.uuid4().hex[:6]}"
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"local-cluster/test": "true"}},
        }
    )
    node_selector = dict(cluster.real_node_selector)
    try:
        cluster.apply(
            backend_manifests(
                namespace, backend_image, "backend", "backend", node_selector
            )
            + backend_manifests(
                namespace, backend_image, "annotated", "annotated", node_selector
            )
        )
        # "upstream": the role runs build-binaries.sh itself (cached by the prometheus_image fixture).
        variables = role_vars(namespace, node_selector, "upstream")
        role = Role(
            tmp_path_factory.mktemp("monitoring-admin"), cluster.kubeconfig, variables
        )
        rc, output, elapsed = role.run()
        print(f"\nfirst role run: {elapsed:.1f}s, {recap(output)}")
        service = cluster.kubectl_json("-n", namespace, "get", "service", "prometheus")
        node_port = service["spec"]["ports"][0]["nodePort"]
        base = f"http://127.0.0.1:{node_port}"
        render_dir = tmp_path_factory.mktemp("monitoring-render")
        sa = render_dir / "sa"
        sa.mkdir()
        (sa / "token").write_text("x")
        (sa / "ca.crt").write_text("")
        role.run(
            "-e",
            f"monitoring_render_dir={render_dir}",
            "-e",
            f"monitoring_serviceaccount_dir={sa}",
            "-e",
            "monitoring_grafana_enabled=true",
        )
        yield {
            "namespace": namespace,
            "base": base,
            "role": role,
            "render_dir": render_dir,
        }
    finally:
        cluster.kubectl_run(
            "delete",
            "namespace",
            namespace,
            "--wait=false",
            "--ignore-not-found",
            check=False,
        )
        cluster.kubectl_run(
            "delete",
            "clusterrole,clusterrolebinding",
            f"intelligent-agent-{namespace}-prometheus",
            "--ignore-not-found",
            check=False,
        )


def active_targets(base):
    status, body = prom_get(base, "/api/v1/targets", {"state": "active"})
    assert status == 200, body
    return body["data"]["activeTargets"]


def test_backend_target_is_up(deployed):
    base = deployed["base"]

    def backend_up():
        targets = active_targets(base)
        return [
            t
            for t in targets
            if t["labels"].get("job") == BACKEND_JOB and t["health"] == "up"
        ]

    waited = wait_for("backend target up in Prometheus", backend_up, timeout=180)
    targets = active_targets(base)
    by_job = {}
    for target in targets:
        by_job.setdefault(target["labels"]["job"], []).append(target["health"])
    print(f"\nbackend target up after {waited:.1f}s; targets by job: {by_job}")
    backend = [t for t in targets if t["labels"]["job"] == BACKEND_JOB]
    assert backend[0]["labels"]["namespace"] == deployed["namespace"]
    # Annotation-based discovery (kubernetes-pods) finds the annotated pod, not the app's own backend.
    wait_for(
        "annotated pod scraped by kubernetes-pods",
        lambda: [
            t
            for t in active_targets(base)
            if t["labels"]["job"] == "kubernetes-pods"
            and t["health"] == "up"
            and t["labels"].get("app_kubernetes_io_name") == "annotated"
        ],
        timeout=120,
    )
    pods_job = [
        t for t in active_targets(base) if t["labels"]["job"] == "kubernetes-pods"
    ]
    assert all(t["labels"].get("app_kubernetes_io_name") != "backend" for t in pods_job)


def test_rules_are_loaded(deployed):
    status, body = prom_get(deployed["base"], "/api/v1/rules")
    assert status == 200
    groups = body["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    print(f"\nPrometheus loaded {len(rules)} rules in {len(groups)} groups")
    assert len(groups) == 9 and len(rules) >= 25
    assert all(r["health"] != "err" for r in rules), [
        r for r in rules if r["health"] == "err"
    ]


def test_every_dashboard_query_is_valid(deployed):
    base = deployed["base"]
    # Some traffic for the request-rate panels (the scrapes themselves count as requests too).
    wait_for(
        "backend request series",
        lambda: prom_get(
            base,
            "/api/v1/query",
            {"query": f'sum(rate(http_requests_total{{job="{BACKEND_JOB}"}}[1m])) > 0'},
        )[1]["data"]["result"],
        timeout=120,
    )
    dashboard = json.loads(
        next((deployed["render_dir"] / "grafana/dashboards").glob("*.json")).read_text()
    )
    results = {}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            status, body = prom_get(base, "/api/v1/query", {"query": target["expr"]})
            assert (
                status == 200 and body["status"] == "success"
            ), f"{panel['title']}: {target['expr']}: {body}"
            results.setdefault(panel["title"], 0)
            results[panel["title"]] += len(body["data"]["result"])
    print(f"\ndashboard panels evaluated (series returned): {results}")
    assert len(results) >= 7
    assert (
        results["Request rate"] >= 1
    )  # the backend's own series reach the dashboard query


def test_second_run_changes_nothing(deployed):
    rc, output, elapsed = deployed["role"].run()
    summary = recap(output)
    print(f"\nsecond role run: {elapsed:.1f}s, {summary}")
    assert summary["changed"] == 0, output[-6000:]


def test_application_down_fires_when_backend_scaled_to_zero(cluster, deployed):
    base = deployed["base"]

    def backend_alerts():
        status, body = prom_get(base, "/api/v1/alerts")
        assert status == 200
        return [
            a
            for a in body["data"]["alerts"]
            if a["labels"]["alertname"] == "ApplicationDown"
            and a["labels"].get("job") == BACKEND_JOB
        ]

    assert not [
        a for a in backend_alerts() if a["state"] == "firing"
    ], "ApplicationDown fires while the backend is up"
    cluster.kubectl_run(
        "-n", deployed["namespace"], "scale", "deployment/backend", "--replicas=0"
    )
    started = time.monotonic()
    wait_for(
        "ApplicationDown firing",
        lambda: [a for a in backend_alerts() if a["state"] == "firing"],
        timeout=150,
    )
    firing = [a for a in backend_alerts() if a["state"] == "firing"][0]
    print(
        f"\nApplicationDown firing {time.monotonic() - started:.1f}s after scale-down: {firing['labels']}"
    )
    assert firing["labels"]["severity"] == "critical"
    assert firing["annotations"]["runbook_url"].startswith("https://")


def test_deployer_applies_namespaced_parts_and_is_told_which_permission_is_missing(
    cluster, namespace, tmp_path, prometheus_image
):
    variables = role_vars(
        namespace,
        dict(cluster.real_node_selector),
        prometheus_image,
        monitoring_prometheus_image_build=False,
        monitoring_wait=False,
        monitoring_prometheus_service_type="ClusterIP",
    )
    role = Role(tmp_path, cluster.deployer_kubeconfig, variables)
    rc, output, elapsed = role.run(check=False)
    print(f"\ndeployer run: {elapsed:.1f}s, rc={rc}")
    assert rc != 0
    flat = " ".join(
        output.replace("''", "'").split()
    )  # the YAML callback folds long messages
    assert (
        "lacks the permission to patch clusterroles and patch clusterrolebindings"
        in flat
    ), output[-4000:]
    assert "monitoring_cluster_rbac: false" in flat
    for kind, name in (
        ("serviceaccount", "prometheus"),
        ("configmap", "prometheus-config"),
        ("networkpolicy", "prometheus"),
        ("configmap", "prometheus-rules"),
        ("deployment", "prometheus"),
        ("service", "prometheus"),
    ):
        cluster.kubectl_json("-n", namespace, "get", kind, name, deployer=True)
    # With the cluster part handed to an admin, the deployer's run succeeds.
    output = role.run("-e", "monitoring_cluster_rbac=false")[1]
    assert recap(output)["failed"] == 0


OPERATOR_KINDS = (
    ("ServiceMonitor", "servicemonitors", "v1"),
    ("PrometheusRule", "prometheusrules", "v1"),
    ("AlertmanagerConfig", "alertmanagerconfigs", "v1alpha1"),
)


def stand_in_crds():
    """Schema-less stand-ins for the Prometheus Operator's CRDs (the operator itself cannot be pulled here)."""
    return [
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {
                "name": f"{plural}.monitoring.coreos.com",
                "labels": {"local-cluster/test": "monitoring-operator-stand-in"},
            },
            "spec": {
                "group": "monitoring.coreos.com",
                "scope": "Namespaced",
                "names": {
                    "kind": kind,
                    "listKind": f"{kind}List",
                    "plural": plural,
                    "singular": kind.lower(),
                },
                "versions": [
                    {
                        "name": version,
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
        for kind, plural, version in OPERATOR_KINDS
    ]


def test_operator_api_present_selects_operator_objects(cluster, namespace, tmp_path):
    """With monitoring.coreos.com served, auto mode emits ServiceMonitors, a PrometheusRule and an AlertmanagerConfig."""
    names = [f"{kind[1]}.monitoring.coreos.com" for kind in OPERATOR_KINDS]
    existing = cluster.kubectl_run("get", "crd", *names, "-o", "name", check=False)
    if existing.stdout.strip():
        pytest.skip(
            "the cluster already serves monitoring.coreos.com: not replacing a real operator's CRDs"
        )
    cluster.apply(stand_in_crds())
    try:
        cluster.kubectl_run(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *[f"crd/{n}" for n in names],
        )
        variables = {
            "platform_environment": "local",
            "monitoring_namespace": namespace,
            "monitoring_scrape_namespaces": [namespace],
            "monitoring_alertmanager_slack_api_url": "https://hooks.slack.com/services/T0/B0/operator-test-secret-7731",
            "monitoring_operator_labels": {"release": "kube-prometheus-stack"},
        }
        role = Role(tmp_path, cluster.kubeconfig, variables)
        rc, output, elapsed = role.run("-e", "platform_secure_logging=true")
        print(f"\noperator-mode run: {elapsed:.1f}s, {recap(output)}")
        assert "operator-test-secret-7731" not in output
        monitors = cluster.kubectl_json(
            "-n", namespace, "get", "servicemonitors.monitoring.coreos.com"
        )["items"]
        assert {"intelligent-agent-frontend", "intelligent-agent-backend"} <= {
            m["metadata"]["name"] for m in monitors
        }
        rule = cluster.kubectl_json(
            "-n",
            namespace,
            "get",
            "prometheusrules.monitoring.coreos.com",
            "intelligent-agent-alerts",
        )
        assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert len(rule["spec"]["groups"]) == 9
        assert sum(len(g["rules"]) for g in rule["spec"]["groups"]) >= 25
        amc = cluster.kubectl_json(
            "-n",
            namespace,
            "get",
            "alertmanagerconfigs.monitoring.coreos.com",
            "intelligent-agent",
        )
        receivers = {r["name"]: r for r in amc["spec"]["receivers"]}
        assert (
            receivers["critical"]["slackConfigs"][0]["apiURL"]["name"]
            == "intelligent-agent-alertmanager-credentials"
        )
        # No standalone Deployment in operator mode.
        assert (
            cluster.kubectl_run(
                "-n", namespace, "get", "deployment", "prometheus", check=False
            ).returncode
            != 0
        )
        output = role.run()[1]
        assert recap(output)["changed"] == 0, output[-4000:]
    finally:
        cluster.kubectl_run(
            "delete", "crd", *names, "--ignore-not-found", "--wait=false", check=False
        )
        # kubernetes.core caches API discovery per host and OS user in the temp dir; drop the stale entries so
        # later runs do not believe the operator API is still there.
        for cache in Path(os.environ.get("TMPDIR", "/tmp")).glob("k8srcp-*.json"):
            cache.unlink(missing_ok=True)


def free_port():
    import socket  # pylint: disable=import-outside-toplevel

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_applied_config_discovers_with_the_service_account_token(
    cluster, namespace, tmp_path, backend_image
):
    """The configuration and RBAC the role applied, run by the built image with Prometheus' own token.

    Independent of the real node: Prometheus runs in Docker on the host network with the in-cluster
    environment of its ServiceAccount (token from the TokenRequest API, the cluster CA), so discovery
    goes through the real API server and the ClusterRole the role applied; the backend is a container
    behind a selector-less Service and a hand-made EndpointSlice.
    """
    variables = role_vars(
        namespace,
        dict(cluster.real_node_selector),
        "upstream",
        monitoring_prometheus_replicas=0,
        monitoring_wait=False,
    )
    (tmp_path / "role").mkdir()
    Role(tmp_path / "role", cluster.kubeconfig, variables).run()
    config_dir = tmp_path / "prometheus"
    (config_dir / "rules").mkdir(parents=True)
    for cm, key, target in (
        ("prometheus-config", "prometheus.yml", config_dir / "prometheus.yml"),
        (
            "prometheus-rules",
            "alerting-rules.yml",
            config_dir / "rules/alerting-rules.yml",
        ),
    ):
        target.write_text(
            cluster.kubectl_json("-n", namespace, "get", "configmap", cm)["data"][key]
        )
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    token = cluster.kubectl_run(
        "-n", namespace, "create", "token", "prometheus", "--duration=1h"
    ).stdout.strip()
    (sa_dir / "token").write_text(token)
    kubeconfig = yaml.safe_load(cluster.kubeconfig.read_text())
    server = urllib.parse.urlparse(kubeconfig["clusters"][0]["cluster"]["server"])
    import base64  # pylint: disable=import-outside-toplevel

    (sa_dir / "ca.crt").write_bytes(
        base64.b64decode(
            kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
        )
    )
    (sa_dir / "namespace").write_text(namespace)
    for path in (config_dir, sa_dir):
        run(["chmod", "-R", "a+rX", str(path)])
    suffix = uuid.uuid4().hex[:6]
    backend, prom = f"it-mon-backend-{suffix}", f"it-mon-prometheus-{suffix}"
    port = free_port()
    try:
        run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                backend,
                "--read-only",
                "--tmpfs",
                "/tmp",
                "--user",
                "1001",
                "--cap-drop",
                "ALL",
                "-e",
                "READY_CHECK_DEPENDENCIES=false",
                backend_image,
            ]
        )
        ip = run(
            [
                "docker",
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                backend,
            ]
        ).stdout.strip()
        labels = {
            "app.kubernetes.io/name": "backend",
            "app.kubernetes.io/part-of": "intelligent-agent",
        }
        cluster.apply(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": "backend",
                        "namespace": namespace,
                        "labels": labels,
                    },
                    "spec": {
                        "ports": [{"name": "http", "port": 5000, "targetPort": 5000}]
                    },
                },
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": "backend-docker",
                        "namespace": namespace,
                        "labels": {"kubernetes.io/service-name": "backend"},
                    },
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
                    "ports": [{"name": "http", "port": 5000, "protocol": "TCP"}],
                },
            ]
        )
        run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                prom,
                "--network",
                "host",
                "--read-only",
                "--user",
                "65534",
                "--cap-drop",
                "ALL",
                "--tmpfs",
                "/prometheus:uid=65534,gid=65534",
                "-e",
                f"KUBERNETES_SERVICE_HOST={server.hostname}",
                "-e",
                f"KUBERNETES_SERVICE_PORT={server.port}",
                "-v",
                f"{config_dir}:/etc/prometheus:ro",
                "-v",
                f"{sa_dir}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
                PROMETHEUS_IMAGE,
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--web.listen-address=127.0.0.1:{port}",
            ]
        )
        base = f"http://127.0.0.1:{port}"
        waited = wait_for(
            "backend discovered through the API server and up",
            lambda: [
                t
                for t in active_targets(base)
                if t["labels"]["job"] == BACKEND_JOB and t["health"] == "up"
            ],
            timeout=120,
        )
        print(
            f"\nbackend up {waited:.1f}s after Prometheus started (token of ServiceAccount prometheus)"
        )
        logs = run(["docker", "logs", prom], check=False)
        assert "forbidden" not in (logs.stdout + logs.stderr).lower(), (
            logs.stdout + logs.stderr
        )[-3000:]
        cluster.kubectl_run(
            "-n", namespace, "delete", "endpointslice", "backend-docker"
        )
        started = time.monotonic()

        def firing():
            status, body = prom_get(base, "/api/v1/alerts")
            return [
                a
                for a in body["data"]["alerts"]
                if a["labels"]["alertname"] == "ApplicationDown"
                and a["labels"].get("job") == BACKEND_JOB
                and a["state"] == "firing"
            ]

        wait_for("ApplicationDown firing", firing, timeout=120)
        print(
            f"ApplicationDown firing {time.monotonic() - started:.1f}s after the backend's endpoint was removed"
        )
    finally:
        run(["docker", "rm", "-f", backend, prom], check=False)
        cluster.kubectl_run(
            "delete",
            "clusterrole,clusterrolebinding",
            f"intelligent-agent-{namespace}-prometheus",
            "--ignore-not-found",
            check=False,
        )
