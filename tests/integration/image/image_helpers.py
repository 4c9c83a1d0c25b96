"""Fixtures of the image integration tests: the local Docker engine and registry, the base images,
and runs of the image role (ansible-playbook) into a repository namespace unique to the session.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from support.runner import run_playbook

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
REGISTRY = os.environ.get("REGISTRY_ADDR", "127.0.0.1:5000")
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
# The local inventory's build args (the locally made Debian base images): read, not copied.
LOCAL_BASE_OVERRIDES = yaml.safe_load((ROOT / "inventories/local/group_vars/all/main.yml").read_text())[
    "image_component_overrides"
]


def run(cmd, timeout=600, check=True, env=None, **kwargs):
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        **kwargs,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def http(url, method="GET", headers=None, timeout=10, auth=None):
    """Return (status, headers, body bytes); HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    if auth:
        import base64

        req.add_header(
            "Authorization",
            "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode(),
        )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def manifest_digest(repo_path, tag, registry=REGISTRY, auth=None):
    status, headers, dummy = http(
        f"http://{registry}/v2/{repo_path}/manifests/{tag}",
        "HEAD",
        {"Accept": MANIFEST_ACCEPT},
        auth=auth,
    )
    return headers.get("Docker-Content-Digest") if status == 200 else None


def registry_tags(repo_path, registry=REGISTRY, auth=None):
    status, dummy, body = http(f"http://{registry}/v2/{repo_path}/tags/list", auth=auth)
    return set(json.loads(body).get("tags") or []) if status == 200 else set()


def wait_http(url, want=200, timeout=60, headers=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = http(url, headers=headers, timeout=5)
            if last[0] == want:
                return last
        except OSError as exc:  # connection refused while the server starts
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer {want} within {timeout}s (last: {last!r})")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RoleRun:
    proc: subprocess.CompletedProcess
    results: dict
    seconds: float

    @property
    def output(self):
        return self.proc.stdout + self.proc.stderr

    @property
    def changed(self):
        match = re.search(r"localhost\s*:.*changed=(\d+)", self.proc.stdout)
        assert match, f"no play recap in the output:\n{self.output[-3000:]}"
        return int(match.group(1))


class Role:
    """Runs tests/integration/image/playbook.yml (the image role), or another playbook here, with extra vars."""

    def __init__(self, tmp: Path, namespace: str):
        self.tmp = tmp
        self.namespace = namespace
        self.count = 0

    def __call__(
        self,
        extra: dict,
        check_mode=False,
        expect_failure=False,
        verbosity=0,
        timeout=900,
        playbook="playbook.yml",
    ):
        self.count += 1
        result_file = self.tmp / f"results-{self.count}.json"
        variables = {
            "image_registry": REGISTRY,
            "image_namespace": self.namespace,
            "image_component_overrides": LOCAL_BASE_OVERRIDES,
            "result_file": str(result_file),
            "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python"),
        }
        variables.update(extra)
        vars_file = self.tmp / f"vars-{self.count}.json"
        vars_file.write_text(json.dumps(variables))
        args = ["-c", "local"]
        if verbosity:
            args.append("-" + "v" * verbosity)
        start = time.monotonic()
        proc = run_playbook(
            HERE / playbook,
            inventory="localhost,",
            extra_files=[vars_file],
            check=check_mode,
            args=args,
            timeout=timeout,
        )
        seconds = time.monotonic() - start
        if expect_failure:
            assert proc.returncode != 0, f"the role run should have failed:\n{proc.stdout[-4000:]}"
        else:
            assert proc.returncode == 0, (
                f"the role run failed ({proc.returncode}):\n{proc.stdout[-8000:]}\n{proc.stderr[-3000:]}"
            )
        results = json.loads(result_file.read_text()) if result_file.exists() and not expect_failure else {}
        return RoleRun(proc, results, seconds)


class Containers:
    """docker run helpers that remove what they started."""

    def __init__(self, run_id):
        self.run_id = run_id
        self.names = []
        self.networks = []

    def network(self):
        name = f"it-image-{self.run_id}-{len(self.networks)}"
        run(["docker", "network", "create", name])
        self.networks.append(name)
        return name

    def start(self, image, name, *args, env=None, network=None, publish=None, hardened=True):
        name = f"it-image-{self.run_id}-{name}"
        cmd = ["docker", "run", "-d", "--name", name]
        if hardened:
            # As in the cluster: read-only root, UID 1001, no capabilities, writable /tmp only.
            cmd += [
                "--read-only",
                "--user",
                "1001",
                "--cap-drop",
                "ALL",
                "--security-opt",
                "no-new-privileges",
                "--tmpfs",
                "/tmp:rw,size=64m",
            ]
        if network:
            cmd += ["--network", network]
        if publish:
            cmd += ["-p", f"127.0.0.1::{publish}"]
        for key, value in (env or {}).items():
            cmd += ["-e", f"{key}={value}"]
        cmd += [*args, image]
        run(cmd)
        self.names.append(name)
        return name

    def port(self, name, container_port):
        out = run(["docker", "port", name, f"{container_port}/tcp"]).stdout.split()[0]
        return int(out.rsplit(":", 1)[1])

    def inspect(self, name):
        return json.loads(run(["docker", "inspect", name]).stdout)[0]

    def logs(self, name):
        proc = run(["docker", "logs", name], check=False)
        return proc.stdout + proc.stderr

    def cleanup(self):
        """Remove what this helper started; best effort, never an error."""
        try:
            if self.names:
                run(["docker", "rm", "-f", *self.names], check=False, timeout=120)
            for net in self.networks:
                run(["docker", "network", "rm", net], check=False, timeout=60)
        except subprocess.SubprocessError as exc:
            print(f"containers cleanup incomplete: {exc!r}")
