"""Everything that talks to the local cluster or runs a tool: kubectl, timestamped subprocesses, the
Deployment watcher of a namespace, and the HTTP load generator."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from bench.timeline import DeploymentState, Timeline, deployment_state

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
CLUSTER_SH = ROOT / "hack" / "local-cluster" / "cluster.sh"


def cluster_env() -> dict[str, str]:
    """KEY=VALUE lines of `cluster.sh env` (KUBECONFIG, KUBECTL, REGISTRY, ...)."""
    out = subprocess.run([str(CLUSTER_SH), "env"], check=True, capture_output=True, text=True).stdout
    values = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isupper():
            values[key] = value.strip()
    return values


class Proc:
    """A running command whose output lines are kept with the monotonic time they arrived."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT):
        self.name, self.cmd, self.log = name, cmd, log
        self.lines: list[tuple[float, str]] = []
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.ended: float | None = None
        self.rc: int | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with self.log.open("a") as handle:
            handle.write(f"$ {' '.join(self.cmd)}\n")
            for line in self.proc.stdout:
                now = time.monotonic()
                self.lines.append((now, line.rstrip("\n")))
                handle.write(f"{now - self.started:7.2f} {line}")
        self.proc.wait()
        self.ended = time.monotonic()
        self.rc = self.proc.returncode

    def wait(self, timeout: float = 900) -> Proc:
        self._reader.join(timeout)
        if self._reader.is_alive():
            self.proc.kill()
            self._reader.join(10)
            raise TimeoutError(f"{self.name} did not finish in {timeout} s (log {self.log})")
        return self

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def tail(self, count: int = 25) -> str:
        return "\n".join(line for _, line in self.lines[-count:])


class Kube:
    """kubectl with the admin kubeconfig, and the environment every tool runs with."""

    def __init__(self, env_values: dict[str, str], workdir: Path):
        self.kubectl_bin = env_values["KUBECTL"]
        self.kubeconfig = env_values["KUBECONFIG"]
        self.registry = env_values.get("REGISTRY", "")
        self.workdir = workdir
        helm_home = workdir / "helm-home"
        self.env = dict(os.environ)
        self.env.update(
            {
                "PATH": f"{VENV_BIN}:{Path(self.kubectl_bin).parent}:{self.env.get('PATH', '')}",
                "KUBECONFIG": self.kubeconfig,
                # kubernetes.core and the collection's modules read this when no kubeconfig option is set.
                "K8S_AUTH_KUBECONFIG": self.kubeconfig,
                "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                "ANSIBLE_VAULT_IDENTITY_LIST": f"local@{ROOT / 'inventories' / 'local' / 'vault-password.txt'}",
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0",
                "PYTHONUNBUFFERED": "1",
                "HELM_CACHE_HOME": str(helm_home / "cache"),
                "HELM_CONFIG_HOME": str(helm_home / "config"),
                "HELM_DATA_HOME": str(helm_home / "data"),
            }
        )

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 180):  # noqa: A002
        proc = subprocess.run(
            [self.kubectl_bin, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def ready(self) -> bool:
        try:
            return self.run("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def wait_ready(self, timeout: float = 900) -> float:
        """Wait until the apiserver answers /readyz (another engineer may be restarting the shared
        cluster); the seconds waited."""
        started = time.monotonic()
        while not self.ready():
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the apiserver did not answer /readyz for {timeout:.0f} s")
            time.sleep(3)
        return time.monotonic() - started

    def json(self, *args: str):
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, docs: list[dict], field_manager: str = "bench", namespace: str | None = None):
        payload = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
        args = ["apply", "--server-side", "--force-conflicts", "--field-manager", field_manager, "-f", "-"]
        if namespace:
            args = ["-n", namespace, *args]
        return self.run(*args, input=payload)

    def namespaces(self, prefix: str) -> dict[str, str]:
        """Namespaces whose name starts with prefix -> phase."""
        items = self.json("get", "namespaces")["items"]
        return {
            ns["metadata"]["name"]: ns.get("status", {}).get("phase", "")
            for ns in items
            if ns["metadata"]["name"].startswith(prefix)
        }

    def delete_namespaces(self, names, wait_seconds: float = 0) -> list[str]:
        """Delete the namespaces (no error when absent); wait up to wait_seconds until they are gone.
        Returns the names still present."""
        names = list(names)
        if names:
            self.run("delete", "namespace", *names, "--ignore-not-found", "--wait=false", check=False)
        deadline = time.monotonic() + wait_seconds
        left = names
        while left:
            present = set(self.namespaces(""))
            left = [n for n in names if n in present]
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(2)
        return left

    def used_node_ports(self) -> set[int]:
        items = self.json("get", "services", "--all-namespaces")["items"]
        return {
            int(port["nodePort"])
            for svc in items
            for port in (svc.get("spec", {}).get("ports") or [])
            if port.get("nodePort")
        }


MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


def digest_reference(image: str) -> str | None:
    """`registry/repo@sha256:...` of a tag in a plain-HTTP local registry (None when it does not resolve)."""
    name, tag = image.rsplit(":", 1)
    registry, repository = name.split("/", 1)
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local registry
            digest = response.headers.get("Docker-Content-Digest")
    except OSError:
        return None
    return f"{name}@{digest}" if digest else None


class Watcher:
    """Watches the Deployments of one namespace (list, then watch; relist on 410 or a broken stream) and
    records every state with its arrival time in a Timeline."""

    def __init__(self, kubeconfig: str, namespace: str):
        from kubernetes import config as k8s_config  # the venv's client (kubernetes.core needs it too)

        self.namespace = namespace
        self.timeline = Timeline()
        self._client = k8s_config.new_client_from_config(config_file=kubeconfig)
        self._stop = threading.Event()
        # Monotonic times the apiserver could not be reached (an outage disturbs a measured run).
        self.errors: list[float] = []
        self._latest: dict[str, DeploymentState] = {}
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"watch-{namespace}")
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"could not list the Deployments of {namespace}")

    # Digest reference -> the tag it was pushed as (set once the images are built): deploy.yml pins images to
    # repo@sha256:..., the peers deploy the tags; the timeline compares them as the tag.
    tag_of_digest: dict[str, str] = {}

    def _seen(self, when: float, obj: dict) -> None:
        state = deployment_state(obj)
        if self.tag_of_digest:
            state = dataclasses.replace(state, images=tuple(self.tag_of_digest.get(i, i) for i in state.images))
        if self._latest.get(state.name) != state:
            self._latest[state.name] = state
            self.timeline.record(when, state)

    def _loop(self) -> None:
        from kubernetes import client, watch

        api = client.AppsV1Api(self._client)
        while not self._stop.is_set():
            try:
                listing = api.list_namespaced_deployment(self.namespace, _preload_content=False)
                data = json.loads(listing.data)
                now = time.monotonic()
                names = set()
                for item in data.get("items", []):
                    names.add(item["metadata"]["name"])
                    self._seen(now, item)
                for gone in set(self._latest) - names:
                    self._latest.pop(gone)
                    self.timeline.record_deleted(now, gone)
                self._ready.set()
                stream = watch.Watch(return_type="object")
                for event in stream.stream(
                    api.list_namespaced_deployment,
                    self.namespace,
                    resource_version=data["metadata"]["resourceVersion"],
                    timeout_seconds=20,
                    _request_timeout=30,
                ):
                    now = time.monotonic()
                    obj = event["raw_object"]
                    if event["type"] == "DELETED":
                        self._latest.pop(obj["metadata"]["name"], None)
                        self.timeline.record_deleted(now, obj["metadata"]["name"])
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self._seen(now, obj)
                    if self._stop.is_set():
                        stream.stop()
                        break
            except Exception as exc:  # noqa: BLE001 - a broken stream or 410: list again
                if getattr(exc, "status", None) != 410:
                    self.errors.append(time.monotonic())
                if self._stop.wait(0.5):
                    return

    def generations(self) -> dict[str, int]:
        return {name: state.generation for name, state in self.timeline.states_at(time.monotonic()).items()}

    def wait_complete(self, names, images=None, since: float | None = None, timeout: float = 300) -> float | None:
        """Block until every named Deployment is complete (with those images); the time it happened."""
        since = time.monotonic() if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            done = self.timeline.complete_with(names, images, since)
            if done is not None or time.monotonic() >= deadline:
                return done
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()


class Load(threading.Thread):
    """GET `url` about `rate` times a second, one request at a time; counts answers and failures."""

    def __init__(self, url: str, rate: float = 20):
        super().__init__(daemon=True)
        self.url, self.period = url, 1.0 / rate
        self._stop_event = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.versions: dict[str, int] = {}

    def run(self) -> None:
        while not self._stop_event.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:  # noqa: S310 - local NodePort
                    version = json.loads(response.read().decode()).get("version", "?")
                self.ok += 1
                self.versions[version] = self.versions.get(version, 0) + 1
            except Exception as exc:  # noqa: BLE001 - every failure counts
                self.failures.append(f"{time.strftime('%H:%M:%S')} {exc!r}")
            self._stop_event.wait(max(0.0, self.period - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)

    @property
    def total(self) -> int:
        return self.ok + len(self.failures)
