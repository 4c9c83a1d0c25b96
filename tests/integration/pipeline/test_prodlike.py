"""`-i inventories/production` and `-i inventories/staging`, deployed for real on the local cluster.

NetworkPolicy is enforced (kube-router), Prometheus runs in a namespace of its own, the namespace and the
deployer's RBAC come from playbooks/bootstrap.yml run as the admin, and deploy.yml runs as the namespace-scoped
deployer ServiceAccount. Images are built and pushed by the test, as CI would; the deploy pins them by digest.

The overrides, all of them (see `overrides()` below; docs/testing.md repeats this list). Each says where the cluster
is, where images live or how big pods are; no policy, image, probe or monitoring setting is overridden:

where the cluster is
  platform_kubeconfig        the local cluster: the admin's for bootstrap.yml and monitoring.yml, a token of the
                             deployer ServiceAccount for deploy.yml
  platform_public_urls       where the health checks reach the Ingress hosts: the test's stand-in for the ingress
                             controller (one local port per component, forwarding to its Service)
  monitoring_namespace       a monitoring namespace of this run (the cluster's `monitoring` holds its exporters)
  secrets_values             the vault: random values, DATABASE_URL/REDIS_URL at the test's TCP stand-ins for
                             PostgreSQL and Redis on the node's address (outside the cluster, like a managed DB)
where images live
  app_image_registry, secrets_registry.server     the local registry
  monitoring_prometheus_image{,_build,_binary}    Prometheus built locally; Alertmanager and Grafana disabled:
                             their images can be neither pulled nor built offline
how big pods are
  app_component_overrides    2 replicas, small requests, HPA 2..3, PDB minAvailable 1
  monitoring_prometheus_resources
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from pipeline_helpers import ROOT, Runner

REGISTRY = "127.0.0.1:5000"
RUN_ID = uuid.uuid4().hex[:6]
IMAGE_REPO = f"{REGISTRY}/prodlike"
VERSIONS = (f"4.0.0-{RUN_ID}", f"4.0.1-{RUN_ID}")
DEPLOYER_SA = "intelligent-agent-deployer"
BACKEND_JOB = "intelligent-agent-backend"

SIZES = {
    "frontend": {
        "replicas": 2,
        "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        "autoscaling": {"min_replicas": 2, "max_replicas": 3},
        "pdb": {"min_available": 1},
    },
    "backend": {
        "replicas": 2,
        "resources": {"requests": {"cpu": "20m", "memory": "48Mi"}, "limits": {"cpu": "300m", "memory": "192Mi"}},
        "autoscaling": {"min_replicas": 2, "max_replicas": 3},
        "pdb": {"min_available": 1},
    },
}


def node_address(cluster) -> str:
    node = cluster.kubectl_json("get", "node", cluster.real_node)
    return next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")


# ---------------------------------------------------------------------------------------------- stand-ins
class TcpStandIn:
    """Accepts TCP connections (optionally TLS) on host:port and closes them: a database, Redis or an HTTPS API
    outside the cluster, as far as a NetworkPolicy and a readiness check can tell."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None):
        self.sock = socket.create_server((host, port), reuse_port=False)
        self.tls, self.accepted = tls, 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _address = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                if self.tls:
                    conn.settimeout(5)
                    conn = self.tls.wrap_socket(conn, server_side=True)
                    conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def close(self):
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the port listening until then,
        # and the next test that binds it (tests/integration/policies) would fail with "address in use".
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout=5)


class IngressStandIn:
    """What the ingress controller does for the health checks: one local port per component, forwarding each
    request to the component's Service (ClusterIP, resolved when first asked). Records the paths requested."""

    def __init__(self, cluster, namespace_of):
        self.cluster, self.namespace_of = cluster, namespace_of  # a function: the namespace to forward into
        self.requests: list[tuple[float, str, str, int]] = []
        self.servers, self.urls = {}, {}
        for component in ("frontend", "backend"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(component))
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers[component] = server
            self.urls[component] = f"http://127.0.0.1:{server.server_address[1]}"

    def service_url(self, component: str) -> str:
        svc = self.cluster.kubectl_json("-n", self.namespace_of(), "get", "service", component)
        return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"

    def _handler(self, component: str):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                status, body = 502, b"no upstream"
                try:
                    upstream = stand_in.service_url(component) + self.path
                    with urllib.request.urlopen(upstream, timeout=5) as response:  # noqa: S310 - test upstream
                        status, body = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read()
                except Exception as exc:  # noqa: BLE001 - reported to the client as a bad gateway
                    body = repr(exc).encode()
                stand_in.requests.append((time.time(), component, self.path, status))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def close(self):
        for server in self.servers.values():
            server.shutdown()


# -------------------------------------------------------------------------------------------------- setup
@pytest.fixture(scope="module")
def images(cluster, demo_image_builder):
    started = time.monotonic()
    subprocess.run([str(ROOT / "hack" / "base-images" / "build.sh")], check=True, timeout=1800, capture_output=True)
    for version in VERSIONS:
        for component in ("backend", "frontend"):
            demo_image_builder(REGISTRY, "prodlike", component, version)
    print(f"\nprodlike images {', '.join(VERSIONS)} built and pushed in {time.monotonic() - started:.0f} s")
    return VERSIONS


def vault_values(db_host: str) -> dict:
    """A vault as an operator fills it in: every key of the example, real-looking values, nothing CHANGE_ME."""
    example = yaml.safe_load((ROOT / "inventories/production/group_vars/all/vault.yml.example").read_text())
    values = {key: secrets.token_urlsafe(24) for key in example["secrets_values"]}
    values.update(
        {
            "DATABASE_URL": f"postgresql://app:{secrets.token_urlsafe(16)}@{db_host}:5432/intelligent_agent",
            "REDIS_URL": f"redis://:{secrets.token_urlsafe(16)}@{db_host}:6379/0",
            "ENCRYPTION_KEY": secrets.token_hex(32),
            "ENCRYPTION_IV": secrets.token_hex(16),
            "SENTRY_DSN": f"https://{secrets.token_hex(16)}@sentry.example.com/42",
            # The formats production insists on (roles/secrets secrets_formats).
            "OPENAI_API_KEY": "sk-" + secrets.token_hex(24),  # pragma: allowlist secret (made at run time)
            "ANTHROPIC_API_KEY": "sk-ant-" + secrets.token_hex(24),  # pragma: allowlist secret (made at run time)
            "SENDGRID_API_KEY": f"SG.{secrets.token_hex(11)}.{secrets.token_hex(20)}",
            "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
            "AWS_CLOUDFRONT_DISTRIBUTION_ID": "E" + secrets.token_hex(6).upper(),
            "STRIPE_SECRET_KEY": "sk_test_" + secrets.token_hex(16),  # pragma: allowlist secret (made at run time)
            "STRIPE_PUBLISHABLE_KEY": "pk_test_" + secrets.token_hex(16),
            "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),  # pragma: allowlist secret (made at run time)
            "GOOGLE_CLIENT_ID": f"{secrets.randbelow(10**12)}-{secrets.token_hex(8)}.apps.googleusercontent.com",
            "AWS_ACCESS_KEY_ID": "AKIA" + secrets.token_hex(8).upper(),
            "AWS_S3_BUCKET": "intelligent-agent-uploads",
            "SMTP_USERNAME": "apikey",
            "GRAFANA_ADMIN_USER": "admin",
        }
    )
    return {
        "secrets_values": values,
        "secrets_registry": {
            "server": REGISTRY,
            "username": "ci-push",
            "password": secrets.token_urlsafe(16),
            "email": "",
        },
        "vault_monitoring_slack_api_url": "https://hooks.slack.com/services/T000/B000/" + secrets.token_hex(12),
    }


def overrides(cluster, env: str, ingress: IngressStandIn, db_host: str, monitoring_ns: str) -> dict:
    """OVERRIDES: the whole list (see the module docstring)."""
    return {
        # where the cluster is
        "platform_kubeconfig": str(cluster.kubeconfig),
        "platform_public_urls": dict(ingress.urls),
        "monitoring_namespace": monitoring_ns,
        **vault_values(db_host),
        # where images live
        "app_image_registry": IMAGE_REPO,
        "monitoring_prometheus_image": f"{REGISTRY}/monitoring/prometheus:v2.53.4-local",
        "monitoring_prometheus_image_build": True,
        "monitoring_prometheus_image_binary": "upstream",
        "monitoring_alertmanager_enabled": False,
        "monitoring_grafana_enabled": False,
        # how big pods are
        "app_component_overrides": _sizes_over(env),
        "monitoring_prometheus_resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
    }


def _sizes_over(env: str) -> dict:
    """The sizes, merged over what the inventory itself sets for its components (hosts, issuers...)."""
    inventory = yaml.safe_load((ROOT / f"inventories/{env}/group_vars/all/main.yml").read_text())
    merged = {}
    for name, size in SIZES.items():
        own = dict((inventory.get("app_component_overrides") or {}).get(name) or {})
        for key, value in size.items():
            own[key] = {**own.get(key, {}), **value} if isinstance(value, dict) else value
        merged[name] = own
    return merged


class Environment:
    """One inventory on the local cluster: the runner, its namespace, the deployer's kubeconfig."""

    def __init__(self, cluster, env: str, workdir: Path, ingress: IngressStandIn, db_host: str):
        self.cluster, self.env, self.workdir = cluster, env, workdir
        self.namespace = env  # the inventory's own platform_namespace
        self.monitoring_ns = f"prodlike-monitoring-{RUN_ID}"
        self.vars = overrides(cluster, env, ingress, db_host, self.monitoring_ns)
        self.runner = Runner(workdir, self.vars, inventory=env)
        self.deployer_kubeconfig = workdir / "deployer.kubeconfig"

    def bootstrap(self):
        result = self.runner.run("bootstrap.yml")
        assert result.rc == 0, result.tail(80)
        return result

    def deploy(self, version: str, **extra):
        self.cluster.service_account_kubeconfig(self.namespace, DEPLOYER_SA, self.deployer_kubeconfig)
        data = {
            "platform_version": version,
            "platform_kubeconfig": str(self.deployer_kubeconfig),
            "deploy_confirm": True,
            "image_build": False,
            **extra,
        }
        return self.runner.run("deploy.yml", data, timeout=900)

    def serving_version(self) -> str:
        deployment = self.cluster.kubectl_json("-n", self.namespace, "get", "deployment", "backend")
        return deployment["metadata"]["labels"].get("app.kubernetes.io/version", "")

    def delete(self):
        for ns in (self.namespace, self.monitoring_ns):
            self.cluster.kubectl_run("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


def wait_gone(cluster, namespace: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while cluster.kubectl_run("get", "namespace", namespace, check=False).returncode == 0:
        assert time.monotonic() < deadline, f"namespace {namespace} still terminating after {timeout} s"
        time.sleep(2)


@pytest.fixture(scope="module")
def outside(cluster):
    """Stand-ins outside the cluster, on the node's address: PostgreSQL, Redis, an HTTPS API, and a port that
    no policy opens."""
    host = node_address(cluster)
    workdir = Path(subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True).stdout.strip())
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=api.example.com",
            "-keyout",
            str(workdir / "key.pem"),
            "-out",
            str(workdir / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(workdir / "cert.pem", workdir / "key.pem")
    stand_ins = {
        "postgres": TcpStandIn(host, 5432),
        "redis": TcpStandIn(host, 6379),
        "https": TcpStandIn(host, 443, tls),
        "closed": TcpStandIn(host, 8443),
    }
    yield host, stand_ins
    for stand_in in stand_ins.values():
        stand_in.close()


def from_backend_pod(cluster, namespace: str, host: str, port: int, tls: bool) -> str:
    """Connect from a running backend pod; returns 'ok' or the error."""
    pods = cluster.kubectl_json("-n", namespace, "get", "pods", "-l", "app.kubernetes.io/name=backend")["items"]
    pod = next(p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running")
    script = (
        "import socket, ssl\n"
        f"s = socket.create_connection(({host!r}, {port}), timeout=4)\n"
        + ("s = ssl._create_unverified_context().wrap_socket(s); s.recv(64)\n" if tls else "")
        + "print('ok')\n"
    )
    done = cluster.kubectl_run("-n", namespace, "exec", pod, "--", "python3", "-c", script, check=False)
    return done.stdout.strip() if done.returncode == 0 else (done.stderr.strip().splitlines() or ["failed"])[-1]


def prometheus_targets(cluster, monitoring_ns: str) -> list[dict]:
    """Prometheus's active targets; [] while it does not answer yet (a fresh pod, or endpoints not yet ready)."""
    svc = cluster.kubectl_json("-n", monitoring_ns, "get", "service", "prometheus")
    url = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}/api/v1/targets?state=active"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - test URL
            return json.loads(response.read())["data"]["activeTargets"]
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return []


class ReplicaWatch(threading.Thread):
    """Records every spec.replicas value a Deployment has while a deploy runs."""

    def __init__(self, cluster, namespace: str, name: str):
        super().__init__(daemon=True)
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.seen: list[int] = []
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            deployment = self.cluster.kubectl_json("-n", self.namespace, "get", "deployment", self.name)
            self.seen.append(deployment["spec"].get("replicas", 1))
            self.stop_event.wait(0.5)

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)


class Load(threading.Thread):
    """Busy requests at every pod of a component (the Service's ClientIP affinity would send all of one client's
    requests to one pod, and the HPA averages over pods), so that the HPA has a reason to scale."""

    def __init__(self, cluster, namespace: str, component: str, port: int, path: str, workers: int = 8):
        super().__init__(daemon=True)
        pods = cluster.kubectl_json("-n", namespace, "get", "pods", "-l", f"app.kubernetes.io/name={component}")
        self.urls = [f"http://{p['status']['podIP']}:{port}{path}" for p in pods["items"] if p["status"].get("podIP")]
        self.workers = workers
        self.stop_event = threading.Event()

    def _work(self, url: str):
        while not self.stop_event.is_set():
            try:
                with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - test URL
                    response.read()
            except Exception:  # noqa: BLE001, S112 - load only
                continue

    def run(self):
        threads = [
            threading.Thread(target=self._work, args=(self.urls[i % len(self.urls)],), daemon=True)
            for i in range(self.workers)
        ]
        for thread in threads:
            thread.start()
        self.stop_event.wait()

    def stop(self):
        self.stop_event.set()


# -------------------------------------------------------------------------------------------------- tests
def environment(cluster, name: str, outside, tmp_path_factory):
    """The inventory `name` on the cluster, from an empty namespace; removed afterwards."""
    host, _stand_ins = outside
    ingress = IngressStandIn(cluster, lambda: name)
    env = Environment(cluster, name, tmp_path_factory.mktemp(name), ingress, host)
    env.ingress = ingress
    env.delete()
    wait_gone(cluster, env.namespace)
    yield env
    ingress.close()
    env.delete()


@pytest.fixture(scope="module")
def production(cluster, images, outside, tmp_path_factory):
    yield from environment(cluster, "production", outside, tmp_path_factory)


def test_production_bootstrap_then_deploy_by_the_deployer(cluster, production):
    first = production.bootstrap()
    again = production.bootstrap()
    assert "changed=0" in again.output, "bootstrap.yml changed something on its second run:\n" + again.tail(40)

    checks_before = len(production.ingress.requests)
    started = time.time()
    result = production.deploy(VERSIONS[0])
    assert result.rc == 0, result.tail(80)
    print(f"\nproduction bootstrap {first.seconds:.0f} s, first deploy by the deployer {result.seconds:.0f} s")
    assert production.serving_version() == VERSIONS[0]

    # Pinned by digest, as CI pushed it.
    for name in ("frontend", "backend"):
        image = cluster.kubectl_json("-n", "production", "get", "deployment", name)["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
        assert image.startswith(f"{IMAGE_REPO}/{name}") and "@sha256:" in image, image

    # The health checks of the production inventory ran through the (stand-in) Ingress hosts and passed.
    checked = [r for r in production.ingress.requests[checks_before:] if r[0] >= started]
    assert checked, "no health check reached the platform's public URLs"
    assert all(status == 200 for _when, _component, _path, status in checked[-3:]), checked[-6:]
    print(f"health checks seen: {sorted({(component, path) for _when, component, path, _status in checked})}")


def test_production_backend_reaches_external_https_and_nothing_else(cluster, production, outside):
    host, stand_ins = outside
    accepted = stand_ins["https"].accepted
    assert from_backend_pod(cluster, "production", host, 443, tls=True) == "ok"
    assert stand_ins["https"].accepted > accepted
    # The same destination on a port no policy opens stays closed.
    assert from_backend_pod(cluster, "production", host, 8443, tls=False) != "ok"
    assert stand_ins["closed"].accepted == 0


def test_production_prometheus_in_its_own_namespace_scrapes_the_backend(cluster, production):
    admin = Runner(production.workdir, production.vars, inventory="production")
    result = admin.run("monitoring.yml", timeout=900)
    assert result.rc == 0, result.tail(80)
    deadline, backend = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        backend = [
            t for t in prometheus_targets(cluster, production.monitoring_ns) if t["labels"].get("job") == BACKEND_JOB
        ]
        if backend and all(t["health"] == "up" for t in backend):
            break
        time.sleep(3)
    assert backend and all(t["health"] == "up" for t in backend), backend


def test_production_redeploy_keeps_the_replica_count_the_hpa_chose(cluster, production):
    load = Load(cluster, "production", "backend", 5000, "/api/info")
    load.start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            hpa = cluster.kubectl_json("-n", "production", "get", "hpa", "backend")
            if hpa["status"].get("desiredReplicas", 0) >= 3 and hpa["status"].get("currentReplicas", 0) >= 3:
                break
            time.sleep(5)
        else:
            pytest.fail(f"the HPA did not scale the backend under load: {hpa.get('status')}")
    finally:
        # The production HPA keeps a scaled-up count for its 300 s scale-down window: the redeploy runs inside it,
        # without the load slowing the rollout on this small machine.
        load.stop()

    watch = ReplicaWatch(cluster, "production", "backend")
    watch.start()
    result = production.deploy(VERSIONS[1])
    watch.stop()
    assert result.rc == 0, result.tail(80)
    assert production.serving_version() == VERSIONS[1]
    assert min(watch.seen) >= 3, f"the redeploy scaled the HPA's backend down: replicas seen {watch.seen}"
    frontend = cluster.kubectl_json("-n", "production", "get", "deployment", "frontend")
    assert frontend["spec"]["replicas"] == 2
    seen = sorted(set(watch.seen))
    print(f"\nredeploy of the HPA-scaled backend in {result.seconds:.0f} s; backend replicas seen: {seen}")


@pytest.fixture(scope="module")
def staging(cluster, images, outside, tmp_path_factory):
    yield from environment(cluster, "staging", outside, tmp_path_factory)


def test_staging_bootstrap_then_deploy_by_the_deployer(cluster, staging):
    # Production above proves the second deploy and the HPA; staging proves its own inventory deploys and verifies.
    staging.bootstrap()
    result = staging.deploy(VERSIONS[1])
    assert result.rc == 0, result.tail(80)
    assert staging.serving_version() == VERSIONS[1]
    print(f"\nstaging first deploy by the deployer {result.seconds:.0f} s")
    assert any(path == "/api/version" and status == 200 for _when, _component, path, status in staging.ingress.requests)
