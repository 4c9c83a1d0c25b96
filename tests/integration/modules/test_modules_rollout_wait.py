"""rollout_wait against the real local cluster: kwok nodes for healthy rollouts, the real node
(containerd pulling from 127.0.0.1:5000) for image pull failures and crashing containers.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
import yaml

MODULE = "intelligent_agent.platform.rollout_wait"
IMAGE_REASONS = {"ErrImagePull", "ImagePullBackOff"}


def deployment(
    name,
    image,
    replicas=1,
    kwok=True,
    command=None,
    env_value="1",
    min_ready_seconds=None,
):
    container = {
        "name": "app",
        "image": image,
        "env": [{"name": "ROLL", "value": env_value}],
    }
    if command:
        container["command"] = command
    pod_spec = {"containers": [container], "terminationGracePeriodSeconds": 1}
    if kwok:
        pod_spec["nodeSelector"] = {"type": "kwok"}
        pod_spec["tolerations"] = [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
    else:
        pod_spec["nodeSelector"] = {"node-role/real": "true"}
    labels = {"app": name, "it-suite": "rollout-wait"}
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
    if min_ready_seconds is not None:
        manifest["spec"]["minReadySeconds"] = min_ready_seconds
    return manifest


def pause_image(cluster) -> str:
    # The cluster's sandbox image: busybox-static under /bin/busybox, already on the real node.
    return "%s/pause:3.10" % cluster.registry


@pytest.fixture
def deployer_env(cluster, tmp_path):
    """AWX style: only K8S_AUTH_* variables (host, token, CA file), no kubeconfig anywhere."""
    config = yaml.safe_load(cluster.deployer_kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    if "token" not in user:
        pytest.fail(
            "the deployer kubeconfig has no bearer token; AWX-style auth needs one",
            pytrace=False,
        )
    ca_file = tmp_path / "ca.crt"
    if "certificate-authority-data" in server:
        ca_file.write_bytes(base64.b64decode(server["certificate-authority-data"]))
    else:
        ca_file.write_text(open(server["certificate-authority"]).read())
    home = tmp_path / "home"
    home.mkdir()
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("K8S_AUTH_") and k != "KUBECONFIG")
    env.update(
        {
            "HOME": str(home),
            "K8S_AUTH_HOST": server["server"],
            "K8S_AUTH_API_KEY": user["token"],
            "K8S_AUTH_SSL_CA_CERT": str(ca_file),
            "K8S_AUTH_VERIFY_SSL": "true",
        }
    )
    return env


def admin_args(cluster, namespace, **kwargs):
    args = {"kubeconfig": str(cluster.kubeconfig), "namespace": namespace}
    args.update(kwargs)
    return args


class FirstWaitingReason(threading.Thread):
    """Polls the pods of one app and records when a container first waits with one of ``reasons``."""

    def __init__(self, cluster, namespace, app, reasons):
        super().__init__(daemon=True)
        self.cluster, self.namespace, self.app, self.reasons = (
            cluster,
            namespace,
            app,
            reasons,
        )
        self.first_seen = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and self.first_seen is None:
            proc = self.cluster.kubectl_run(
                "-n",
                self.namespace,
                "get",
                "pods",
                "-l",
                "app=" + self.app,
                "-o",
                "json",
                check=False,
                timeout=30,
            )
            if proc.returncode == 0:
                for pod in json.loads(proc.stdout).get("items", []):
                    for status in pod.get("status", {}).get("containerStatuses") or []:
                        if (status.get("state", {}).get("waiting") or {}).get("reason") in self.reasons:
                            self.first_seen = time.monotonic()
            self.stop.wait(0.3)


def test_three_deployments_roll_out_together_with_k8s_auth_env_only(cluster, namespace, module_runner, deployer_env):
    names = ["alpha", "beta", "gamma"]
    # minReadySeconds keeps the first rollout going for a while after the (instant) kwok pods are Ready,
    # so the wait has something to measure.
    cluster.apply(
        [
            deployment(
                n,
                "%s/it/%s:1" % (cluster.registry, n),
                replicas=2,
                min_ready_seconds=10,
            )
            for n in names
        ],
        namespace=namespace,
    )
    run = module_runner(
        MODULE,
        {"namespace": namespace, "names": names, "timeout": 240},
        env=deployer_env,
    )
    print(
        "first rollout: %.1fs (module %ss): %s"
        % (
            run.seconds,
            run.result.get("elapsed_s"),
            [(w["name"], w["durations"]) for w in run.result.get("workloads", [])],
        )
    )
    assert not run.failed, run.result.get("msg")
    assert sorted(w["name"] for w in run.result["workloads"]) == names
    for workload in run.result["workloads"]:
        assert workload["state"] == "complete" and workload["revision"] == "1"
        assert workload["replicas"]["available"] == 2
        durations = workload["durations"]
        assert 0 <= durations["first_ready_s"] <= durations["complete_s"] <= run.result["elapsed_s"] + 0.1
        assert durations["complete_s"] < 60
    print("\n".join(line for line in run.output.splitlines() if "rollout_wait [localhost]" in line))
    assert "rollout_wait [localhost]: waiting for 3 workload(s) in namespace %s" % namespace in run.output
    assert re.search(
        r"rollout_wait \[localhost\]: alpha complete in [0-9.]+s \(revision 1\)",
        run.output,
    )

    # A second revision of all three, chosen by label selector: only the new ReplicaSets' pods count.
    cluster.apply(
        [deployment(n, "%s/it/%s:2" % (cluster.registry, n), replicas=2, env_value="2") for n in names],
        namespace=namespace,
    )
    run = module_runner(
        MODULE,
        {"namespace": namespace, "selector": "it-suite=rollout-wait", "timeout": 240},
        env=deployer_env,
    )
    print("second rollout: module %ss" % run.result.get("elapsed_s"))
    assert not run.failed, run.result.get("msg")
    assert [(w["state"], w["revision"]) for w in run.result["workloads"]] == [("complete", "2")] * 3
    assert run.result["msg"].startswith("rolled out: alpha: complete in ")


def test_missing_image_tag_fails_fast_on_the_real_node(cluster, namespace, module_runner):
    image = "%s/it-modules/missing-%s:9.9.9" % (cluster.registry, uuid.uuid4().hex[:8])
    cluster.apply(deployment("broken", image, kwok=False), namespace=namespace)
    poller = FirstWaitingReason(cluster, namespace, "broken", IMAGE_REASONS)
    poller.start()
    try:
        run = module_runner(
            MODULE,
            admin_args(cluster, namespace, names=["broken"], timeout=180, grace=5),
        )
        finished = time.monotonic()
    finally:
        poller.stop.set()
    assert run.failed, run.result.get("msg")
    assert poller.first_seen is not None, "no pod ever reported ErrImagePull/ImagePullBackOff"
    after_first = finished - poller.first_seen
    print(
        "missing image: failed %.1fs after the first pull error (module %ss, whole play %.1fs): %s"
        % (after_first, run.result.get("elapsed_s"), run.seconds, run.result["msg"])
    )
    workload = run.result["workloads"][0]
    assert workload["state"] == "failed" and workload["reason"] in IMAGE_REASONS
    assert run.result["failed_workloads"] == ["broken"]
    assert run.result["msg"].startswith("broken: %s for image %s (pod broken-" % (workload["reason"], image))
    assert workload["failing_pods"] and workload["failing_pods"][0]["image"] == image
    assert after_first <= 15, "must fail within 15 s of the first ErrImagePull"


def test_crashing_container_fails_with_crash_loop_and_log_lines(cluster, namespace, module_runner):
    command = [
        "/bin/busybox",
        "sh",
        "-c",
        "echo crasher starting; echo 'fatal: CONFIG_PATH is not set' >&2; exit 3",
    ]
    cluster.apply(
        deployment("crasher", pause_image(cluster), kwok=False, command=command),
        namespace=namespace,
    )
    run = module_runner(
        MODULE,
        admin_args(
            cluster,
            namespace,
            names=["crasher"],
            timeout=180,
            restart_threshold=20,
            log_lines=5,
        ),
    )
    print("crash loop: module %ss: %s" % (run.result.get("elapsed_s"), run.result.get("msg")))
    assert run.failed
    workload = run.result["workloads"][0]
    assert workload["reason"] == "CrashLoopBackOff", run.result["msg"]
    pod = workload["failing_pods"][0]
    assert pod["container"] == "app" and pod["restarts"] >= 1
    assert "last exit code 3" in pod["message"]
    assert any("fatal: CONFIG_PATH is not set" in line for line in pod["log_tail"]), pod
    assert run.result["msg"].startswith("crasher: CrashLoopBackOff in container app (")


def test_fail_fast_classes_on_kwok_pods_without_stopping(cluster, namespace, module_runner):
    """kwok's failure markers (hack/local-cluster/kwok/stages.yaml) give pods the waiting reasons of a
    broken image and of a crash loop; with stop_on_failure false every outcome is reported.
    """
    registry = cluster.registry
    cluster.apply(
        [
            deployment("fine", "%s/it/fine:1" % registry),
            deployment("pullfail", "%s/it/pullfail:kwok-fail-1" % registry),
            deployment("crashy", "%s/it/crashy:kwok-crash-1" % registry),
        ],
        namespace=namespace,
    )
    run = module_runner(
        MODULE,
        admin_args(
            cluster,
            namespace,
            names=["fine", "pullfail", "crashy"],
            timeout=180,
            grace=2,
            stop_on_failure=False,
            log_lines=3,
        ),
    )
    print("kwok failures: module %ss: %s" % (run.result.get("elapsed_s"), run.result.get("msg")))
    assert run.failed
    outcome = dict((w["name"], (w["state"], w["reason"])) for w in run.result["workloads"])
    assert outcome == {
        "fine": ("complete", None),
        "pullfail": ("failed", "ImagePullBackOff"),
        "crashy": ("failed", "CrashLoopBackOff"),
    }
    assert sorted(run.result["failed_workloads"]) == ["crashy", "pullfail"]
    crashy = [w for w in run.result["workloads"] if w["name"] == "crashy"][0]
    assert "last exit code 1" in crashy["failing_pods"][0]["message"]
    assert run.result["msg"].startswith("crashy: CrashLoopBackOff in container app (1 restarts)")
    assert "pullfail: ImagePullBackOff for image %s/it/pullfail:kwok-fail-1" % registry in run.result["msg"]


def test_forbidden_namespace_and_missing_workload_are_named(cluster, namespace, module_runner, deployer_env):
    run = module_runner(
        MODULE,
        {"namespace": "default", "names": ["anything"], "timeout": 60},
        env=deployer_env,
    )
    assert run.failed
    # Which resource is listed first is not part of the contract: any of them may be named.
    assert re.match(
        r"^cannot list/watch (deployments|replicasets|pods) in namespace default: Forbidden \(403\)",
        run.result["msg"],
    ), run.result["msg"]

    cluster.apply(deployment("present", "%s/it/present:1" % cluster.registry), namespace=namespace)
    run = module_runner(MODULE, admin_args(cluster, namespace, names=["present", "absent"], timeout=60))
    assert run.failed and run.result["msg"] == "Deployment absent not found in namespace %s" % namespace

    run = module_runner(
        MODULE,
        admin_args(cluster, namespace, names=["present", "absent"], timeout=60),
        check_mode=True,
    )
    assert not run.failed, run.result.get("msg")
    states = dict((w["name"], w["state"]) for w in run.result["workloads"])
    assert states["absent"] == "missing" and states["present"] in (
        "complete",
        "waiting",
    )
    assert run.result["elapsed_s"] < 30


def _restart_apiserver_command(cluster):
    script = cluster.root / "hack" / "local-cluster" / "cluster.sh"
    usage = subprocess.run([str(script)], capture_output=True, text=True, check=False).stderr
    if "restart-apiserver" in usage:
        return [str(script), "restart-apiserver"]
    return None


def test_apiserver_restart_during_the_wait_does_not_fail_it(cluster, namespace, module_runner):
    command = _restart_apiserver_command(cluster)
    if command is None:
        pytest.skip("hack/local-cluster/cluster.sh offers no restart-apiserver command yet")
    # kwok pods are Ready at once; minReadySeconds keeps the rollout unfinished for 30 s.
    cluster.apply(
        deployment("steady", "%s/it/steady:1" % cluster.registry, min_ready_seconds=30),
        namespace=namespace,
    )
    outcome = {}
    runner = threading.Thread(
        target=lambda: outcome.update(
            run=module_runner(MODULE, admin_args(cluster, namespace, names=["steady"], timeout=300))
        ),
        daemon=True,
    )
    started = time.monotonic()
    runner.start()
    time.sleep(8)  # the module is watching by now; the pod counts as available after 30 s
    restart = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    restarted_after = time.monotonic() - started
    assert restart.returncode == 0, restart.stdout + restart.stderr
    runner.join(400)
    run = outcome["run"]
    print(
        "apiserver restarted %.1fs into the wait; wait took %ss, watch counters %s"
        % (restarted_after, run.result.get("elapsed_s"), run.result.get("watch"))
    )
    assert not run.failed, run.result.get("msg")
    assert run.result["workloads"][0]["state"] == "complete"
    assert run.result["elapsed_s"] > restarted_after - 8, "the restart must have happened during the wait"
    watch = run.result["watch"]
    assert watch["disconnects"] + watch["errors"] + watch["gone"] >= 1, watch


class ApiserverOutageProxy:
    """TCP proxy in front of the apiserver; outage() cuts every connection and refuses new ones for a
    while, which is what a client sees while the apiserver restarts (TLS passes through untouched: the
    apiserver certificate is for 127.0.0.1, whatever the port)."""

    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, upstream_port)
        self.lock = threading.Lock()
        self.sockets = set()
        self.accepted = 0
        self.listener = None
        self.port = None
        self._listen()

    def _listen(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port or 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _addr = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets.update((client, upstream))
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self.lock:
                self.sockets.discard(src)

    def outage(self, seconds):
        self.listener.close()
        with self.lock:
            doomed = list(self.sockets)
            self.sockets.clear()
        for sock in doomed:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass
        time.sleep(seconds)
        self._listen()

    def close(self):
        self.listener.close()


def test_apiserver_outage_during_the_wait_does_not_fail_it(cluster, namespace, module_runner, deployer_env):
    """Every connection to the apiserver is cut and refused for 8 s in the middle of the wait."""
    server = urlsplit(deployer_env["K8S_AUTH_HOST"])
    proxy = ApiserverOutageProxy(server.hostname, server.port or 443)
    env = dict(deployer_env, K8S_AUTH_HOST="https://127.0.0.1:%d" % proxy.port)
    cluster.apply(
        deployment("steady", "%s/it/steady:1" % cluster.registry, min_ready_seconds=25),
        namespace=namespace,
    )
    outcome = {}
    runner = threading.Thread(
        target=lambda: outcome.update(
            run=module_runner(
                MODULE,
                {"namespace": namespace, "names": ["steady"], "timeout": 240},
                env=env,
            )
        ),
        daemon=True,
    )
    started = time.monotonic()
    runner.start()
    deadline = time.monotonic() + 90
    while proxy.accepted < 3 and time.monotonic() < deadline:  # lists and watches are connected
        time.sleep(0.2)
    assert proxy.accepted >= 3, "the module never connected through the proxy"
    time.sleep(1)
    cut_at = time.monotonic() - started
    proxy.outage(8)
    runner.join(300)
    proxy.close()
    run = outcome["run"]
    print(
        "apiserver outage %.1f-%.1fs into the run; wait took %ss; watch counters %s; %s"
        % (
            cut_at,
            cut_at + 8,
            run.result.get("elapsed_s"),
            run.result.get("watch"),
            run.result.get("msg"),
        )
    )
    assert not run.failed, run.result.get("msg")
    assert run.result["workloads"][0]["state"] == "complete"
    watch = run.result["watch"]
    assert watch["disconnects"] + watch["errors"] >= 1, watch
    assert proxy.accepted > 3, "the module must have reconnected after the outage"
