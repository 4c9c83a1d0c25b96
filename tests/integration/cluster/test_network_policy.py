"""The real node enforces NetworkPolicy (kube-router's firewall, hack/local-cluster/lib/network-policy.sh).

Every check sends real traffic between busybox pods (the pause image) on the real node: a
server with httpd on ports 8080 and 8081, and clients that fetch from it with ``wget`` or
resolve a name through kube-dns (CoreDNS on the host, behind the ClusterIP 10.96.0.10). A
blocked request is also shown to be the policy's doing: the host (which kube-router always
lets through to its local pods) still reaches the same server, or the same client still
reaches what the policy allows.

Each test prints how long enforcement took after ``kubectl apply`` (or ``delete``) of a
policy returned: between the last probe that did not see it and the first that did (a probe
is one ``kubectl exec`` into a client; its request leaves about 0.1 s after it starts).
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
import uuid

import pytest

MARKER = "np-ok"
ALLOWED_PORT = 8080
OTHER_PORT = 8081
# Policies are applied on kube-router's watch events; this only bounds a broken enforcer.
ENFORCE_TIMEOUT = 20.0
DNS_NAME = "kubernetes.default.svc.cluster.local"
KUBERNETES_SVC_IP = "10.96.0.1"

pytestmark = pytest.mark.usefixtures("real_node")


@pytest.fixture
def report(capsys):
    """Print a measured figure even when pytest captures output."""

    def emit(message):
        with capsys.disabled():
            print(f"\n[network-policy] {message}", flush=True)

    return emit


# --- objects ---------------------------------------------------------------------------------


def _pod(cluster, name, labels, command=None, readiness_port=None):
    container = {
        "name": "main",
        "image": f"{cluster.registry}/pause:3.10",
        "resources": {
            "requests": {"cpu": "5m", "memory": "8Mi"},
            "limits": {"memory": "32Mi"},
        },
    }
    if command:
        container["command"] = command
    if readiness_port:
        container["readinessProbe"] = {
            "tcpSocket": {"port": readiness_port},
            "periodSeconds": 1,
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "nodeSelector": dict(cluster.real_node_selector),
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
        },
    }


def server_pod(cluster, name="server"):
    """busybox httpd answering MARKER on ALLOWED_PORT and OTHER_PORT."""
    script = (
        f"/bin/busybox mkdir -p /www && echo {MARKER} > /www/index.html"
        f" && /bin/busybox httpd -p {OTHER_PORT} -h /www"
        f" && exec /bin/busybox httpd -f -p {ALLOWED_PORT} -h /www"
    )
    return _pod(cluster, name, {"app": name}, ["/bin/busybox", "sh", "-c", script], ALLOWED_PORT)


def client_pod(cluster, name, labels):
    """The pause image's default command: sleep until TERM."""
    return _pod(cluster, name, labels)


def policy(name, spec):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def start_pods(cluster, namespace, pod_list):
    cluster.apply(pod_list, namespace)
    names = [f"pod/{p['metadata']['name']}" for p in pod_list]
    cluster.kubectl_run(
        "-n",
        namespace,
        "wait",
        "--for=condition=Ready",
        "--timeout=90s",
        *names,
        timeout=120,
    )


def pod_ip(cluster, namespace, name):
    return cluster.kubectl_json("-n", namespace, "get", "pod", name)["status"]["podIP"]


@pytest.fixture
def other_namespace(cluster):
    """A second namespace (for namespaceSelector peers), deleted afterwards without waiting."""
    name = f"it-np-peer-{uuid.uuid4().hex[:6]}"
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
    yield name
    cluster.kubectl_run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


# --- probes ----------------------------------------------------------------------------------


def in_pod(cluster, namespace, pod, command):
    """Run COMMAND (a shell line) in POD; return (its exit code, its output).

    The exit code is echoed by the pod's shell, so a failure of ``kubectl exec`` itself (say,
    the apiserver restarting under another test) is retried, never taken for a blocked request.
    """
    for attempt in range(1, 4):
        proc = cluster.kubectl_run(
            "-n",
            namespace,
            "exec",
            pod,
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            f'{command}; echo "exit=$?"',
            check=False,
            timeout=30,
        )
        out, sep, code = proc.stdout.rpartition("exit=")
        if sep and code.strip().isdigit():
            return int(code), out
        if attempt == 3:
            raise AssertionError(f"kubectl exec {pod} failed 3 times: {proc.stderr.strip()}")
        time.sleep(0.5)
    return None


def fetch(cluster, namespace, client, ip, port):
    """True if CLIENT gets MARKER from http://IP:PORT/ (a policy's REJECT fails it at once).

    ``timeout`` bounds it instead of ``wget -T``, with which this busybox's wget exits 139
    (SIGSEGV) after a successful fetch.
    """
    code, out = in_pod(
        cluster,
        namespace,
        client,
        f"/bin/busybox timeout 5 /bin/busybox wget -q -O - http://{ip}:{port}/",
    )
    return code == 0 and out.strip() == MARKER


def resolves(cluster, namespace, client):
    """True if CLIENT resolves DNS_NAME through kube-dns (ClusterIP, DNAT to CoreDNS on the host)."""
    code, out = in_pod(
        cluster,
        namespace,
        client,
        f"/bin/busybox timeout 5 /bin/busybox nslookup {DNS_NAME}",
    )
    return code == 0 and KUBERNETES_SVC_IP in out


def host_fetch(ip, port):
    """True if the host (not subject to the pods' policies) gets MARKER from the pod."""
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=5) as resp:  # noqa: S310 - pod IP
            return resp.read().decode().strip() == MARKER
    except OSError:
        return False


def exec_overhead(cluster, namespace, pod):
    """Seconds for one ``kubectl exec`` of a no-op: a probe's request leaves sooner than this."""
    began = time.monotonic()
    assert in_pod(cluster, namespace, pod, "true")[0] == 0
    return time.monotonic() - began


def settle(probe, want, what):
    """Poll PROBE back to back until it returns WANT; fail after ENFORCE_TIMEOUT.

    Returns how many probes did not see the change yet, and when (seconds after the call) the
    last of them and the first that saw it were started. A probe's own duration does not
    count: a REJECTed connection takes 1.0 s to fail (its SYN is sent again; see the README).
    """
    start = time.monotonic()
    missed, before = 0, 0.0
    while True:
        began = time.monotonic() - start
        if probe() == want:
            return missed, before, began
        missed, before = missed + 1, began
        if began > ENFORCE_TIMEOUT:
            raise AssertionError(f"{what}: still {not want} {began:.1f} s after the policy was applied")
        time.sleep(0.05)


def timing(settled, overhead):
    """Words for settle()'s result; OVERHEAD from exec_overhead()."""
    missed, before, after = settled
    if not missed:
        return f"in effect for the first probe, whose request left < {overhead:.2f} s after it"
    return f"took effect {before:.2f}-{after + overhead:.2f} s after it ({missed} probes missed it)"


def timed_change(cluster, namespace, change, probe, want, what, report):
    """CHANGE() (a policy applied or deleted) while PROBE() is not WANT; wait for WANT; print.

    Every test has a pod "client" in NAMESPACE; it times the no-op exec.
    """
    assert probe() != want, f"{what}: already so before the change"
    overhead = exec_overhead(cluster, namespace, "client")
    change()
    report(f"{what}: {timing(settle(probe, want, what), overhead)} (the change returned at 0)")


def apply_and_time(cluster, namespace, manifests, probe, want, what, report):
    """timed_change() of a server-side apply of MANIFESTS."""
    timed_change(
        cluster,
        namespace,
        lambda: cluster.apply(manifests, namespace),
        probe,
        want,
        what,
        report,
    )


# --- tests -----------------------------------------------------------------------------------


def test_enforcer_sees_pod_traffic_before_the_pod_bridge_accepts():
    """kube-router's FORWARD jump precedes the cni0 ACCEPT rules lib/node.sh appends."""
    rules = subprocess.run(
        ["iptables", "-w", "5", "-S", "FORWARD"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.splitlines()
    jumps = [i for i, r in enumerate(rules) if r.endswith("-j KUBE-ROUTER-FORWARD")]
    accepts = [i for i, r in enumerate(rules) if r in ("-A FORWARD -i cni0 -j ACCEPT", "-A FORWARD -o cni0 -j ACCEPT")]
    assert jumps, f"no jump to KUBE-ROUTER-FORWARD in FORWARD: {rules}"
    assert len(accepts) == 2, f"the pod bridge's FORWARD accepts are missing: {rules}"
    assert jumps[0] < min(accepts), f"the cni0 accepts come before kube-router's jump: {rules}"


def test_default_deny_ingress_blocks_pod_to_pod(cluster, namespace, report):
    start_pods(
        cluster,
        namespace,
        [server_pod(cluster), client_pod(cluster, "client", {"role": "client"})],
    )
    ip = pod_ip(cluster, namespace, "server")
    assert fetch(cluster, namespace, "client", ip, ALLOWED_PORT), "client -> server fails before any policy"

    deny = policy("default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})
    apply_and_time(
        cluster,
        namespace,
        deny,
        lambda: fetch(cluster, namespace, "client", ip, ALLOWED_PORT),
        False,
        "default-deny ingress blocks client -> server",
        report,
    )
    # The server still answers the host: the block is the policy's, not a dead server.
    assert host_fetch(ip, ALLOWED_PORT), "the server stopped answering the host too"
    assert not fetch(cluster, namespace, "client", ip, ALLOWED_PORT), "the block did not hold"

    timed_change(
        cluster,
        namespace,
        lambda: cluster.kubectl_run("-n", namespace, "delete", "networkpolicy", "default-deny-ingress"),
        lambda: fetch(cluster, namespace, "client", ip, ALLOWED_PORT),
        True,
        "deleting the policy lets client -> server through again",
        report,
    )


def test_allow_rule_admits_only_selected_pods_on_the_allowed_port(cluster, namespace, other_namespace, report):
    start_pods(
        cluster,
        namespace,
        [
            server_pod(cluster),
            client_pod(cluster, "client", {"role": "client"}),
            client_pod(cluster, "stranger", {"role": "other"}),
        ],
    )
    start_pods(cluster, other_namespace, [client_pod(cluster, "peer", {"role": "client"})])
    ip = pod_ip(cluster, namespace, "server")

    def client():
        return fetch(cluster, namespace, "client", ip, ALLOWED_PORT)

    def peer():
        return fetch(cluster, other_namespace, "peer", ip, ALLOWED_PORT)

    assert client() and peer(), "client/peer -> server fails before any policy"
    apply_and_time(
        cluster,
        namespace,
        policy("default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]}),
        client,
        False,
        "default-deny ingress blocks client -> server",
        report,
    )
    assert not peer(), "default-deny ingress let a pod of another namespace in"

    # podSelector peer: pods of the policy's namespace labelled role=client, on ALLOWED_PORT only.
    allow = {
        "podSelector": {"matchLabels": {"app": "server"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                "ports": [{"protocol": "TCP", "port": ALLOWED_PORT}],
            }
        ],
    }
    apply_and_time(
        cluster,
        namespace,
        policy("allow-clients", allow),
        client,
        True,
        "podSelector + port allow admits client -> server",
        report,
    )
    assert not fetch(cluster, namespace, "client", ip, OTHER_PORT), f"port {OTHER_PORT} was not allowed"
    assert not fetch(cluster, namespace, "stranger", ip, ALLOWED_PORT), "a pod without role=client got in"
    assert not peer(), "a podSelector-only peer admitted a pod of another namespace"
    assert host_fetch(ip, OTHER_PORT), f"the server's port {OTHER_PORT} is not up"

    # namespaceSelector + podSelector peer: role=client pods of the other namespace.
    allow["ingress"][0]["from"].append(
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": other_namespace}},
            "podSelector": {"matchLabels": {"role": "client"}},
        }
    )
    apply_and_time(
        cluster,
        namespace,
        policy("allow-clients", allow),
        peer,
        True,
        "namespaceSelector + podSelector allow admits the other namespace's client",
        report,
    )
    assert client(), "the same-namespace client lost its access"
    assert not fetch(cluster, namespace, "stranger", ip, ALLOWED_PORT), "a pod without role=client got in"
    assert not fetch(cluster, other_namespace, "peer", ip, OTHER_PORT), f"port {OTHER_PORT} was not allowed"


def test_egress_rules_are_honoured(cluster, namespace, report):
    start_pods(
        cluster,
        namespace,
        [server_pod(cluster), client_pod(cluster, "client", {"role": "client"})],
    )
    ip = pod_ip(cluster, namespace, "server")

    def to_server(port=ALLOWED_PORT):
        return fetch(cluster, namespace, "client", ip, port)

    def dns():
        return resolves(cluster, namespace, "client")

    assert to_server() and dns(), "client -> server or client -> DNS fails before any policy"

    egress = {
        "podSelector": {"matchLabels": {"role": "client"}},
        "policyTypes": ["Egress"],
        "egress": [],
    }
    apply_and_time(
        cluster,
        namespace,
        policy("client-egress", egress),
        to_server,
        False,
        "default-deny egress blocks client -> server",
        report,
    )
    assert not dns(), "default-deny egress let DNS through"
    assert host_fetch(ip, ALLOWED_PORT), "the server stopped answering the host too"

    # Egress to the server pod on ALLOWED_PORT only; DNS stays blocked.
    egress["egress"].append(
        {
            "to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
            "ports": [{"protocol": "TCP", "port": ALLOWED_PORT}],
        }
    )
    apply_and_time(
        cluster,
        namespace,
        policy("client-egress", egress),
        to_server,
        True,
        "egress allow to the server's port admits client -> server",
        report,
    )
    assert not to_server(OTHER_PORT), f"egress to port {OTHER_PORT} was not allowed"
    assert not dns(), "DNS worked without a DNS egress rule"

    # DNS egress as the collection's namespace role writes it (roles/namespace allow-dns-egress):
    # ports 53 to anywhere. kube-dns is CoreDNS on the host, so a pod selector could not name it.
    egress["egress"].append({"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]})
    apply_and_time(
        cluster,
        namespace,
        policy("client-egress", egress),
        dns,
        True,
        "DNS egress allow admits client -> kube-dns",
        report,
    )
    assert to_server(), "client -> server lost its egress allow"
    assert not to_server(OTHER_PORT), f"egress to port {OTHER_PORT} was not allowed"
