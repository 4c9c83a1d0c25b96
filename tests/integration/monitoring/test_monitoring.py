"""The monitoring role against the real local cluster: a real Prometheus scrapes the demo backend.

One module-scoped deployment serves the tests in order, laid out as in production: the app namespace
prepared by the namespace role (default-deny NetworkPolicies; the backend admits Prometheus pods from
the monitoring namespace), Prometheus in a namespace of its own (admin kubeconfig, standalone mode),
the cluster's node-exporter and kube-state-metrics (hack/local-cluster host daemons, Services in
`monitoring`). Target up, every dashboard query valid, the alert rules loaded, a second run changes
nothing, a crash-looping pod and a nearly full node filesystem make the spec's alerts fire,
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

from support.runner import run_playbook

ROOT = Path(__file__).resolve().parents[3]
REGISTRY = "127.0.0.1:5000"
PROMETHEUS_IMAGE = f"{REGISTRY}/monitoring/prometheus:v2.53.4-local"
BUILD_BINARIES = ROOT / "roles/monitoring/files/prometheus-image/build-binaries.sh"
BACKEND_JOB = "intelligent-agent-backend"
# Where hack/local-cluster puts the Services of its node-exporter and kube-state-metrics host daemons.
CLUSTER_EXPORTERS_NAMESPACE = "monitoring"
ROLE_DEFAULTS = yaml.safe_load((ROOT / "roles/monitoring/defaults/main.yml").read_text())

PLAYBOOK = """
- name: Run the {role} role
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  module_defaults:
    group/intelligent_agent.platform.k8s:
      kubeconfig: "{{{{ test_kubeconfig }}}}"
  roles:
    - role: intelligent_agent.platform.{role}
"""


def run(cmd, timeout=600, check=True, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
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
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True))


class Role:
    """Runs the monitoring role (or another of the collection's roles) with ansible-playbook and a vars file."""

    def __init__(self, workdir: Path, kubeconfig: Path, variables: dict, role="monitoring"):
        self.workdir = workdir
        self.playbook = workdir / f"{role}.yml"
        self.playbook.write_text(PLAYBOOK.format(role=role))
        self.vars_file = workdir / "vars.yml"
        self.vars_file.write_text(yaml.safe_dump(dict(variables, test_kubeconfig=str(kubeconfig))))

    def run(self, *extra, check=True, timeout=600):
        started = time.monotonic()
        proc = run_playbook(
            self.playbook,
            inventory="localhost,",
            extra_files=[self.vars_file],
            args=extra,
            timeout=timeout,
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
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
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


def exporter_jobs():
    """The role's exporter jobs, the cluster exporters looked for where hack/local-cluster has them.

    The tests' Prometheus lives in a namespace of its own, not in `monitoring` where the role's default
    (monitoring_namespace) would look for node-exporter and kube-state-metrics.
    """
    jobs = [dict(job) for job in ROLE_DEFAULTS["monitoring_exporter_jobs"]]
    for job in jobs:
        if job["name"] in ("node-exporter", "kube-state-metrics"):
            job["namespaces"] = [CLUSTER_EXPORTERS_NAMESPACE]
    return jobs


def role_vars(namespace, node_selector, binary, app_namespace=None, **extra):
    """Prometheus in `namespace`, scraping the app in `app_namespace` (default: the same namespace).

    monitoring_alert_for_override shortens every rule's `for` (5-10 minutes in production) so that alerts
    fire within seconds; thresholds and expressions stay the production ones.
    """
    return {
        "platform_environment": "local",
        "platform_name": "intelligent-agent",
        "monitoring_namespace": namespace,
        "monitoring_app_namespace": app_namespace or namespace,
        "monitoring_exporter_jobs": exporter_jobs(),
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


def app_namespace_vars(app_namespace, monitoring_namespace, kubeconfig):
    """The namespace role for the app namespace, as deploy.yml runs it (default-deny NetworkPolicies).

    Its backend policy admits Prometheus pods from namespace_monitoring_namespace; the annotation-only
    pod needs an allow rule of its own, as any pod that opts into scraping does. Quota, LimitRange and
    the deployer's Role are not what this test is about.
    """
    from_prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_namespace}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    return {
        "platform_environment": "local",
        "platform_name": "intelligent-agent",
        "platform_namespace": app_namespace,
        "platform_kubeconfig": str(kubeconfig),  # the role sets its own module_defaults from it
        "namespace_labels": {"local-cluster/test": "true"},
        "namespace_monitoring_namespace": monitoring_namespace,
        "namespace_resource_quota_enabled": False,
        "namespace_limit_range_enabled": False,
        "namespace_deployer_enabled": False,
        "namespace_network_policies_extra": [
            {
                "name": "allow-annotated-from-prometheus",
                "component": "annotated",
                "ingress": [
                    {
                        "from": [from_prometheus],
                        "ports": [{"port": 5000, "protocol": "TCP"}],
                    }
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def deployed(cluster, tmp_path_factory, prometheus_image, backend_image):
    """Production's layout: Prometheus (admin kubeconfig) in a namespace of its own, the backend and an
    annotation-only pod in an app namespace prepared by the namespace role (default deny).
    """
    suffix = uuid.uuid4().hex[:6]
    monitoring_namespace = f"it-monitoring-{suffix}"
    app_namespace = f"it-monitoring-app-{suffix}"
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": monitoring_namespace,
                "labels": {"local-cluster/test": "true"},
            },
        }
    )
    node_selector = dict(cluster.real_node_selector)
    try:
        rc, output, elapsed = Role(
            tmp_path_factory.mktemp("monitoring-app-namespace"),
            cluster.kubeconfig,
            app_namespace_vars(app_namespace, monitoring_namespace, cluster.kubeconfig),
            role="namespace",
        ).run()
        print(f"\napp namespace {app_namespace} (namespace role): {elapsed:.1f}s")
        cluster.apply(
            backend_manifests(app_namespace, backend_image, "backend", "backend", node_selector)
            + backend_manifests(app_namespace, backend_image, "annotated", "annotated", node_selector)
        )
        # "upstream": the role runs build-binaries.sh itself (cached by the prometheus_image fixture).
        variables = role_vars(monitoring_namespace, node_selector, "upstream", app_namespace=app_namespace)
        role = Role(tmp_path_factory.mktemp("monitoring-admin"), cluster.kubeconfig, variables)
        rc, output, elapsed = role.run()
        print(f"first role run: {elapsed:.1f}s, {recap(output)}")
        service = cluster.kubectl_json("-n", monitoring_namespace, "get", "service", "prometheus")
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
            "namespace": app_namespace,
            "monitoring_namespace": monitoring_namespace,
            "base": base,
            "role": role,
            "render_dir": render_dir,
        }
    finally:
        cluster.kubectl_run(
            "delete",
            "namespace",
            app_namespace,
            monitoring_namespace,
            "--wait=false",
            "--ignore-not-found",
            check=False,
        )
        cluster.kubectl_run(
            "delete",
            "clusterrole,clusterrolebinding",
            f"intelligent-agent-{monitoring_namespace}-prometheus",
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
        return [t for t in targets if t["labels"].get("job") == BACKEND_JOB and t["health"] == "up"]

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
    pods_job = [t for t in active_targets(base) if t["labels"]["job"] == "kubernetes-pods"]
    assert all(t["labels"].get("app_kubernetes_io_name") != "backend" for t in pods_job)


def test_rules_are_loaded(deployed):
    status, body = prom_get(deployed["base"], "/api/v1/rules")
    assert status == 200
    groups = body["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    print(f"\nPrometheus loaded {len(rules)} rules in {len(groups)} groups")
    assert len(groups) == 9 and len(rules) >= 25
    assert all(r["health"] != "err" for r in rules), [r for r in rules if r["health"] == "err"]


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
    dashboard = json.loads(next((deployed["render_dir"] / "grafana/dashboards").glob("*.json")).read_text())
    results = {}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            status, body = prom_get(base, "/api/v1/query", {"query": target["expr"]})
            assert status == 200 and body["status"] == "success", f"{panel['title']}: {target['expr']}: {body}"
            results.setdefault(panel["title"], 0)
            results[panel["title"]] += len(body["data"]["result"])
    print(f"\ndashboard panels evaluated (series returned): {results}")
    assert len(results) >= 7
    assert results["Request rate"] >= 1  # the backend's own series reach the dashboard query


def test_second_run_changes_nothing(deployed):
    rc, output, elapsed = deployed["role"].run()
    summary = recap(output)
    print(f"\nsecond role run: {elapsed:.1f}s, {summary}")
    assert summary["changed"] == 0, output[-6000:]


def alerts(base, alertname, state="firing"):
    status, body = prom_get(base, "/api/v1/alerts")
    assert status == 200, body
    return [a for a in body["data"]["alerts"] if a["labels"]["alertname"] == alertname and a["state"] == state]


def query(base, promql):
    status, body = prom_get(base, "/api/v1/query", {"query": promql})
    assert status == 200 and body["status"] == "success", body
    return body["data"]["result"]


def test_cluster_exporters_are_scraped(deployed):
    """node-exporter and kube-state-metrics (host daemons of the local cluster, selectorless Services in
    `monitoring`) are up for the Prometheus in its own namespace; kube-state-metrics' series keep the
    namespace of the objects they describe (honor_labels)."""
    base = deployed["base"]
    waited = {}
    for job in ("node-exporter", "kube-state-metrics"):
        waited[job] = wait_for(
            f"{job} target up",
            lambda job=job: [t for t in active_targets(base) if t["labels"]["job"] == job and t["health"] == "up"],
            timeout=120,
        )
    targets = {t["labels"]["job"]: t for t in active_targets(base) if t["health"] == "up"}
    print(
        "\nexporter targets up: "
        + ", ".join(f"{job} {targets[job]['scrapeUrl']} ({seconds:.1f}s)" for job, seconds in waited.items())
    )
    assert targets["node-exporter"]["labels"]["namespace"] == CLUSTER_EXPORTERS_NAMESPACE
    backend_replicas = f'kube_deployment_spec_replicas{{namespace="{deployed["namespace"]}", deployment="backend"}}'
    wait_for(
        "kube-state-metrics series of the backend Deployment",
        lambda: query(base, backend_replicas),
        timeout=60,
    )
    assert query(base, 'node_filesystem_size_bytes{job="node-exporter"}')
    assert query(base, 'kube_node_status_condition{condition="Ready", status="true"}')


def test_network_policies_deny_the_rest_and_prometheus_still_scrapes(cluster, deployed):
    """The role's NetworkPolicies (default-deny-all + prometheus) are enforced in the monitoring namespace
    (the local cluster enforces them): Prometheus still reaches the backend in the app namespace, the API server
    (its endpoint on the node IP) and the host exporters, while another pod of the namespace is refused its port.
    """
    namespace = deployed["monitoring_namespace"]
    names = {p["metadata"]["name"] for p in cluster.kubectl_json("-n", namespace, "get", "networkpolicies")["items"]}
    assert names == {"default-deny-all", "prometheus"}, names
    base = deployed["base"]
    jobs = (BACKEND_JOB, "kubernetes-apiservers", "node-exporter", "kube-state-metrics")
    for job in jobs:
        wait_for(
            f"{job} target up behind the NetworkPolicies",
            lambda job=job: [t for t in active_targets(base) if t["labels"]["job"] == job and t["health"] == "up"],
            timeout=120,
        )
    prometheus_ip = cluster.kubectl_json(
        "-n",
        namespace,
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/name=prometheus",
    )["items"][0]["status"]["podIP"]
    stranger = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stranger", "labels": {"app": "stranger"}},
        "spec": {
            "nodeSelector": dict(cluster.real_node_selector),
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": f"{REGISTRY}/pause:3.10",
                    "resources": {"limits": {"cpu": "50m", "memory": "16Mi"}},
                }
            ],
        },
    }
    cluster.apply(stranger, namespace)
    cluster.kubectl_run(
        "-n",
        namespace,
        "wait",
        "--for=condition=Ready",
        "--timeout=90s",
        "pod/stranger",
    )

    def stranger_reaches_prometheus():
        proc = cluster.kubectl_run(
            "-n",
            namespace,
            "exec",
            "stranger",
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            f"/bin/busybox timeout 5 /bin/busybox wget -q -O - http://{prometheus_ip}:9090/-/ready"
            ' >/dev/null; echo "exit=$?"',
            check=False,
            timeout=30,
        )
        assert "exit=" in proc.stdout, proc.stderr
        return proc.stdout.strip().endswith("exit=0")

    # kube-router programs a new pod shortly after it starts: wait for the refusal, then see it hold.
    wait_for(
        "a pod of the monitoring namespace refused Prometheus' port",
        lambda: not stranger_reaches_prometheus(),
        timeout=30,
        interval=0.5,
    )
    assert not stranger_reaches_prometheus()
    # The host (always let through to its pods) still gets an answer: the refusal is the policy's.
    with urllib.request.urlopen(f"{base}/-/ready", timeout=10) as resp:
        assert resp.status == 200


def test_crash_looping_pod_fires_the_pod_and_deployment_alerts(cluster, deployed, backend_image):
    """A container that exits at once, on the real node: kube-state-metrics sees the restarts and the
    unavailable replica, and KubernetesPodCrashLooping and KubernetesDeploymentReplicasMismatch fire
    (production expressions and thresholds; `for` shortened by monitoring_alert_for_override).
    """
    base, namespace = deployed["base"], deployed["namespace"]
    manifests = backend_manifests(
        namespace,
        backend_image,
        "crasher",
        "crasher",
        dict(cluster.real_node_selector),
    )
    deployment = manifests[0]
    deployment["spec"]["template"]["metadata"]["annotations"] = {}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["sh", "-c", "echo 'simulated crash' >&2; exit 1"]
    container.pop("readinessProbe")

    def crash_looping():
        return [
            a
            for a in alerts(base, "KubernetesPodCrashLooping")
            if a["labels"].get("namespace") == namespace and a["labels"].get("pod", "").startswith("crasher-")
        ]

    def replicas_mismatch():
        return [
            a
            for a in alerts(base, "KubernetesDeploymentReplicasMismatch")
            if a["labels"].get("namespace") == namespace and a["labels"].get("deployment") == "crasher"
        ]

    assert not crash_looping() and not replicas_mismatch()
    cluster.apply(deployment)
    started = time.monotonic()
    try:
        mismatch_after = wait_for("KubernetesDeploymentReplicasMismatch firing", replicas_mismatch, 180)
        crash_after = time.monotonic() - started
        crash_after += wait_for("KubernetesPodCrashLooping firing", crash_looping, 240)
        firing = crash_looping()[0]
        restarts = query(
            base,
            f'kube_pod_container_status_restarts_total{{namespace="{namespace}", pod="{firing["labels"]["pod"]}"}}',
        )
        print(
            f"\nKubernetesDeploymentReplicasMismatch firing {mismatch_after:.1f}s and "
            f"KubernetesPodCrashLooping firing {crash_after:.1f}s after the crashing Deployment was applied "
            f"(pod {firing['labels']['pod']}, restarts {restarts[0]['value'][1] if restarts else '?'}); "
            f"summary: {firing['annotations']['summary']}"
        )
        assert firing["labels"]["severity"] == "warning"
        assert firing["labels"]["container"] == "backend"
    finally:
        cluster.kubectl_run("-n", namespace, "delete", "deployment", "crasher", "--ignore-not-found")


@pytest.fixture
def nearly_full_filesystem(tmp_path):
    """A real 16 MiB ext4 filesystem mounted on the node (a loop device) and filled to about 92%."""
    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem needs root (the local cluster runs as root)")
    image, mountpoint = tmp_path / "disk.img", tmp_path / "mnt"
    mountpoint.mkdir()
    run(["truncate", "-s", "16M", str(image)])
    run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)])
    run(["mount", "-o", "loop", str(image), str(mountpoint)])
    try:
        stat = os.statvfs(mountpoint)
        size, avail = stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
        run(
            [
                "fallocate",
                "-l",
                str(avail - int(size * 0.08)),
                str(mountpoint / "fill"),
            ]
        )
        stat = os.statvfs(mountpoint)
        yield mountpoint, stat.f_bavail / stat.f_blocks
    finally:
        # The loop device is released with the mount (mount -o loop sets autoclear).
        run(["umount", str(mountpoint)], check=False)


def test_nearly_full_node_filesystem_fires_disk_space_low(deployed, nearly_full_filesystem):
    """node-exporter reports a real, nearly full filesystem on the node; DiskSpaceLow fires with the
    production threshold (less than 15% free). Its production `for` (10 minutes) is shortened by
    monitoring_alert_for_override; high CPU or memory cannot be produced quickly on a shared machine.
    """
    base = deployed["base"]
    mountpoint, free = nearly_full_filesystem
    started = time.monotonic()

    def disk_space_low():
        return [a for a in alerts(base, "DiskSpaceLow") if a["labels"].get("mountpoint") == str(mountpoint)]

    waited = wait_for("DiskSpaceLow firing", disk_space_low, timeout=180)
    firing = disk_space_low()[0]
    print(
        f"\nDiskSpaceLow firing {waited:.1f}s after {mountpoint} was filled ({free:.1%} free): "
        f"{firing['labels']['instance']} {firing['labels'].get('fstype')}, value {float(firing['value']):.3f}"
    )
    assert firing["labels"]["job"] == "node-exporter"
    assert float(firing["value"]) < 0.15
    assert time.monotonic() - started < 180


def test_application_down_fires_when_backend_scaled_to_zero(cluster, deployed):
    base = deployed["base"]

    def backend_alerts():
        status, body = prom_get(base, "/api/v1/alerts")
        assert status == 200
        return [
            a
            for a in body["data"]["alerts"]
            if a["labels"]["alertname"] == "ApplicationDown" and a["labels"].get("job") == BACKEND_JOB
        ]

    assert not [a for a in backend_alerts() if a["state"] == "firing"], "ApplicationDown fires while the backend is up"
    cluster.kubectl_run("-n", deployed["namespace"], "scale", "deployment/backend", "--replicas=0")
    started = time.monotonic()
    wait_for(
        "ApplicationDown firing",
        lambda: [a for a in backend_alerts() if a["state"] == "firing"],
        timeout=150,
    )
    firing = [a for a in backend_alerts() if a["state"] == "firing"][0]
    print(f"\nApplicationDown firing {time.monotonic() - started:.1f}s after scale-down: {firing['labels']}")
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
    flat = " ".join(output.replace("''", "'").split())  # the YAML callback folds long messages
    assert "lacks the permission to patch clusterroles and patch clusterrolebindings" in flat, output[-4000:]
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
    """With monitoring.coreos.com served, auto mode emits ServiceMonitors, a PrometheusRule and an
    AlertmanagerConfig."""
    names = [f"{kind[1]}.monitoring.coreos.com" for kind in OPERATOR_KINDS]
    existing = cluster.kubectl_run("get", "crd", *names, "-o", "name", check=False)
    if existing.stdout.strip():
        pytest.skip("the cluster already serves monitoring.coreos.com: not replacing a real operator's CRDs")
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
        monitors = cluster.kubectl_json("-n", namespace, "get", "servicemonitors.monitoring.coreos.com")["items"]
        assert {"intelligent-agent-frontend", "intelligent-agent-backend"} <= {m["metadata"]["name"] for m in monitors}
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
            receivers["critical"]["slackConfigs"][0]["apiURL"]["name"] == "intelligent-agent-alertmanager-credentials"
        )
        # No standalone Deployment in operator mode.
        assert cluster.kubectl_run("-n", namespace, "get", "deployment", "prometheus", check=False).returncode != 0
        output = role.run()[1]
        assert recap(output)["changed"] == 0, output[-4000:]
    finally:
        cluster.kubectl_run("delete", "crd", *names, "--ignore-not-found", "--wait=false", check=False)
        # kubernetes.core caches API discovery per host and OS user in the temp dir; drop the stale entries so
        # later runs do not believe the operator API is still there.
        for cache in Path(os.environ.get("TMPDIR", "/tmp")).glob("k8srcp-*.json"):
            cache.unlink(missing_ok=True)


def free_port():
    import socket  # pylint: disable=import-outside-toplevel

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_applied_config_discovers_with_the_service_account_token(cluster, namespace, tmp_path, backend_image):
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
        target.write_text(cluster.kubectl_json("-n", namespace, "get", "configmap", cm)["data"][key])
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    token = cluster.kubectl_run("-n", namespace, "create", "token", "prometheus", "--duration=1h").stdout.strip()
    (sa_dir / "token").write_text(token)
    kubeconfig = yaml.safe_load(cluster.kubeconfig.read_text())
    server = urllib.parse.urlparse(kubeconfig["clusters"][0]["cluster"]["server"])
    import base64  # pylint: disable=import-outside-toplevel

    (sa_dir / "ca.crt").write_bytes(
        base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"])
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
                    "spec": {"ports": [{"name": "http", "port": 5000, "targetPort": 5000}]},
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
            lambda: [t for t in active_targets(base) if t["labels"]["job"] == BACKEND_JOB and t["health"] == "up"],
            timeout=120,
        )
        print(f"\nbackend up {waited:.1f}s after Prometheus started (token of ServiceAccount prometheus)")
        logs = run(["docker", "logs", prom], check=False)
        assert "forbidden" not in (logs.stdout + logs.stderr).lower(), (logs.stdout + logs.stderr)[-3000:]
        cluster.kubectl_run("-n", namespace, "delete", "endpointslice", "backend-docker")
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
        print(f"ApplicationDown firing {time.monotonic() - started:.1f}s after the backend's endpoint was removed")
    finally:
        run(["docker", "rm", "-f", backend, prom], check=False)
        cluster.kubectl_run(
            "delete",
            "clusterrole,clusterrolebinding",
            f"intelligent-agent-{namespace}-prometheus",
            "--ignore-not-found",
            check=False,
        )
