"""The namespace role's production NetworkPolicies with real traffic on the enforcing local cluster.

The role (production defaults: namespace_network_policies, no local extras) prepares a fresh app namespace
whose backend admits Prometheus from a fresh monitoring-like namespace (namespace_monitoring_namespace).
busybox pods (the pause image) on the real node, and listeners the test starts on the node's IP, which
is outside the cluster's pod and Service networks, then show:

- backend -> an external listener on 443 (HTTPS egress) and on 5432 (datastores) gets through;
- backend -> a pod of the cluster on 443 is refused (the cluster's networks are excepted);
- backend -> the same external host on another port is refused;
- a Prometheus-labelled pod of the monitoring namespace reaches backend:5000, the same pod in another
  namespace does not.

Every refusal is shown to be the policy's: a pod of a namespace without policies reaches the same address.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
import uuid

import pytest
import yaml

from support.runner import run_playbook

MARKER = "policy-ok"
BACKEND_PORT = 5000
# kube-router programs a new pod's chains shortly after it starts; until then the pod is unrestricted.
ENFORCE_TIMEOUT = 30.0

PLAYBOOK = """
- name: Apply the namespace role's production policies
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  roles:
    - role: intelligent_agent.platform.namespace
"""


# --- the host side: listeners outside the cluster -------------------------------------------------


class _Marker(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's interface
        body = f"{MARKER}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def node_ip(cluster):
    node = cluster.kubectl_json("get", "node", cluster.real_node)
    return next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")


@pytest.fixture(scope="module")
def external(node_ip):
    """HTTP listeners on the node IP: 443 (the HTTPS egress port), 5432 and a free port no rule allows."""
    with socket.socket() as probe:
        probe.bind((node_ip, 0))
        other = probe.getsockname()[1]
    servers = {}
    for name, port in (("https", 443), ("postgres", 5432), ("other", other)):
        server = http.server.ThreadingHTTPServer((node_ip, port), _Marker)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = port
        servers.setdefault("_servers", []).append(server)
    yield servers
    for server in servers["_servers"]:
        server.shutdown()
        server.server_close()


# --- objects -------------------------------------------------------------------------------------


def pod(cluster, name, labels, serve_port=None, low_ports=False):
    """A busybox pod that passes Pod Security `restricted`; with SERVE_PORT it answers MARKER there."""
    container = {
        "name": "main",
        "image": f"{cluster.registry}/pause:3.10",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {
            "requests": {"cpu": "5m", "memory": "8Mi"},
            "limits": {"cpu": "100m", "memory": "32Mi"},
        },
        "volumeMounts": [{"name": "www", "mountPath": "/www"}],
    }
    spec = {
        "nodeSelector": dict(cluster.real_node_selector),
        "terminationGracePeriodSeconds": 1,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "www", "emptyDir": {"sizeLimit": "1Mi"}}],
    }
    if serve_port:
        container["command"] = [
            "/bin/busybox",
            "sh",
            "-c",
            f"echo {MARKER} > /www/index.html && exec /bin/busybox httpd -f -p {serve_port} -h /www",
        ]
        container["readinessProbe"] = {
            "tcpSocket": {"port": serve_port},
            "periodSeconds": 1,
        }
    if low_ports:  # a non-root pod listening on 443: a safe sysctl of its own network namespace
        spec["securityContext"]["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


def start(cluster, namespace, pods):
    cluster.apply(pods, namespace)
    cluster.kubectl_run(
        "-n",
        namespace,
        "wait",
        "--for=condition=Ready",
        "--timeout=90s",
        *[f"pod/{p['metadata']['name']}" for p in pods],
        timeout=120,
    )


def pod_ip(cluster, namespace, name):
    return cluster.kubectl_json("-n", namespace, "get", "pod", name)["status"]["podIP"]


def fetch(cluster, namespace, client, ip, port):
    """True if CLIENT gets MARKER from http://IP:PORT/ (a policy's REJECT fails it within about a second)."""
    for attempt in range(3):
        proc = cluster.kubectl_run(
            "-n",
            namespace,
            "exec",
            client,
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            f'/bin/busybox timeout 5 /bin/busybox wget -q -O - http://{ip}:{port}/; echo "exit=$?"',
            check=False,
            timeout=30,
        )
        out, sep, code = proc.stdout.rpartition("exit=")
        if sep and code.strip().isdigit():
            return int(code) == 0 and out.strip() == MARKER
        time.sleep(0.5 * (attempt + 1))  # kubectl exec itself failed: not a verdict
    raise AssertionError(f"kubectl exec {namespace}/{client} failed: {proc.stderr.strip()}")


def settles(probe, want, what):
    """Poll PROBE until it returns WANT (kube-router may not have programmed a new pod yet)."""
    deadline = time.monotonic() + ENFORCE_TIMEOUT
    while probe() != want:
        assert time.monotonic() < deadline, f"{what}: still {not want} after {ENFORCE_TIMEOUT:.0f} s"
        time.sleep(0.5)


def holds(probe, want, what, times=3):
    """WANT, and still WANT a little later (a refusal that holds, a pass that is not luck)."""
    settles(probe, want, what)
    for _repeat in range(times - 1):
        time.sleep(0.3)
        assert probe() == want, f"{what}: did not hold"


# --- the namespaces --------------------------------------------------------------------------------


def create_namespace(cluster, name):
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"local-cluster/test": "true"}},
        }
    )
    deadline = time.monotonic() + 60
    while cluster.kubectl_run("-n", name, "get", "serviceaccount", "default", check=False).returncode:
        assert time.monotonic() < deadline, f"ServiceAccount {name}/default not created within 60 s"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def namespaces(cluster, tmp_path_factory):
    """app (the namespace role, production policies), monitoring-like and other namespaces; deleted afterwards."""
    if not cluster.real_node:
        pytest.fail("the local cluster runs without its real node (REAL_NODE=0)")
    suffix = uuid.uuid4().hex[:6]
    names = {
        "app": f"it-pol-app-{suffix}",
        "monitoring": f"it-pol-mon-{suffix}",
        "other": f"it-pol-other-{suffix}",
    }
    try:
        for key in ("monitoring", "other"):
            create_namespace(cluster, names[key])
        workdir = tmp_path_factory.mktemp("namespace-policies")
        (workdir / "namespace.yml").write_text(PLAYBOOK)
        variables = {
            "platform_environment": "local",
            "platform_name": "intelligent-agent",
            "platform_namespace": names["app"],
            "platform_kubeconfig": str(cluster.kubeconfig),
            "namespace_labels": {"local-cluster/test": "true"},
            "namespace_monitoring_namespace": names["monitoring"],
            # Not what this test is about (and the quota would count the probe pods).
            "namespace_resource_quota_enabled": False,
            "namespace_limit_range_enabled": False,
            "namespace_deployer_enabled": False,
        }
        (workdir / "vars.yml").write_text(yaml.safe_dump(variables))
        proc = run_playbook(
            workdir / "namespace.yml",
            inventory="localhost,",
            extra_files=[workdir / "vars.yml"],
            timeout=600,
        )
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
        yield names
    finally:
        cluster.kubectl_run(
            "delete",
            "namespace",
            *names.values(),
            "--wait=false",
            "--ignore-not-found",
            check=False,
        )


@pytest.fixture(scope="module")
def pods(cluster, namespaces):
    """backend (serves 5000) in app; prometheus in monitoring; prometheus, a 443 server and a client in other."""
    labels = {
        "backend": {"app.kubernetes.io/name": "backend"},
        "prometheus": {"app.kubernetes.io/name": "prometheus"},
    }
    start(
        cluster,
        namespaces["app"],
        [pod(cluster, "backend", labels["backend"], serve_port=BACKEND_PORT)],
    )
    start(
        cluster,
        namespaces["monitoring"],
        [pod(cluster, "prometheus", labels["prometheus"])],
    )
    start(
        cluster,
        namespaces["other"],
        [
            pod(cluster, "prometheus", labels["prometheus"]),
            pod(
                cluster,
                "server443",
                {"app": "server443"},
                serve_port=443,
                low_ports=True,
            ),
            pod(cluster, "client", {"app": "client"}),
        ],
    )
    return {
        "backend": pod_ip(cluster, namespaces["app"], "backend"),
        "server443": pod_ip(cluster, namespaces["other"], "server443"),
    }


# --- tests -----------------------------------------------------------------------------------------


def test_the_role_applied_the_production_policies(cluster, namespaces):
    found = cluster.kubectl_json("-n", namespaces["app"], "get", "networkpolicies")["items"]
    specs = {p["metadata"]["name"]: p["spec"] for p in found}
    assert set(specs) == {
        "default-deny-all",
        "allow-frontend-ingress",
        "allow-backend-ingress",
        "allow-frontend-egress-backend",
        "allow-backend-egress-datastores",
        "allow-backend-egress-external",
        "allow-dns-egress",
    }, "local extras or missing production policies"
    (rule,) = specs["allow-backend-egress-external"]["egress"]
    assert rule["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    # The local cluster's pod (10.88.0.0/16), Service (10.96.0.0/16) and kwok (10.244.0.0/16) networks.
    assert "10.0.0.0/8" in rule["to"][0]["ipBlock"]["except"]


def test_backend_reaches_https_outside_the_cluster(cluster, namespaces, pods, external, node_ip):
    app = namespaces["app"]
    holds(
        lambda: fetch(cluster, app, "backend", node_ip, external["https"]),
        True,
        "backend -> external :443",
    )
    holds(
        lambda: fetch(cluster, app, "backend", node_ip, external["postgres"]),
        True,
        "backend -> external :5432",
    )


def test_backend_is_refused_a_pod_of_the_cluster_on_443(cluster, namespaces, pods):
    other = namespaces["other"]
    assert fetch(cluster, other, "client", pods["server443"], 443), "the in-cluster 443 server does not answer"
    holds(
        lambda: fetch(cluster, namespaces["app"], "backend", pods["server443"], 443),
        False,
        "backend -> in-cluster pod :443 (cluster networks are excepted)",
    )


def test_backend_is_refused_other_external_ports(cluster, namespaces, pods, external, node_ip):
    assert fetch(cluster, namespaces["other"], "client", node_ip, external["other"]), "the listener does not answer"
    holds(
        lambda: fetch(cluster, namespaces["app"], "backend", node_ip, external["other"]),
        False,
        f"backend -> external :{external['other']}",
    )


def test_only_prometheus_of_the_monitoring_namespace_reaches_the_backend(cluster, namespaces, pods):
    ip = pods["backend"]
    holds(
        lambda: fetch(cluster, namespaces["monitoring"], "prometheus", ip, BACKEND_PORT),
        True,
        "monitoring -> backend",
    )
    holds(
        lambda: fetch(cluster, namespaces["other"], "prometheus", ip, BACKEND_PORT),
        False,
        "a prometheus-labelled pod of another namespace -> backend",
    )
    holds(
        lambda: fetch(cluster, namespaces["other"], "client", ip, BACKEND_PORT),
        False,
        "another pod -> backend",
    )
