"""Helpers of the deploy pipeline tests: run playbooks, load the app with HTTP, receive webhooks."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = ROOT / ".venv" / "bin"


def local_inventory_vars() -> dict:
    return yaml.safe_load((ROOT / "inventories/local/group_vars/all/main.yml").read_text()) or {}


def vault_vars() -> dict:
    """The variables of the local inventory's vault (secrets_values...), decrypted with the demo password."""
    out = subprocess.run(
        [
            str(VENV_BIN / "ansible-vault"),
            "view",
            "inventories/local/group_vars/all/vault.yml",
            "--vault-password-file",
            "inventories/local/vault-password.txt",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return yaml.safe_load(out) or {}


def vault_secret_values() -> list[str]:
    """Every secret value of the local vault that is long enough to be unmistakable in a log."""
    values: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and len(node) >= 8:
            values.append(node)

    walk(vault_vars())
    return sorted(set(values))


def merged_overrides(frontend_port: int, backend_port: int) -> dict:
    overrides = copy.deepcopy(local_inventory_vars().get("app_component_overrides") or {})
    for name, port in (("frontend", frontend_port), ("backend", backend_port)):
        component = overrides.setdefault(name, {})
        component.setdefault("service", {}).update({"type": "NodePort", "node_port": port})
        # Zero-downtime settings for the test under load: two replicas and a preStop delay long enough
        # for kube-proxy to drop a terminating pod from the NodePort before it stops listening.
        component["replicas"] = max(2, int(component.get("replicas", 2)))
        component["pre_stop_sleep_seconds"] = 5
        component.setdefault("autoscaling", {})["min_replicas"] = component["replicas"]
    return overrides


LOCAL_IMAGE_KEYS = ("image_registry", "image_namespace", "image_component_overrides")


def image_vars() -> dict:
    """The image role's local settings, as inventories/local sets them."""
    inventory = local_inventory_vars()
    return {key: inventory[key] for key in LOCAL_IMAGE_KEYS}


class Result:
    def __init__(self, rc: int, output: str, seconds: float, log: Path):
        self.rc, self.output, self.seconds, self.log = rc, output, seconds, log

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported changed (default callback output)."""
        names, current = [], None
        for line in self.output.splitlines():
            match = re.match(r"^TASK \[(.*)\] \*+", line)
            if match:
                current = match.group(1)
            elif line.startswith("changed: ") and current:
                names.append(current)
        return names

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


class Runner:
    """Runs the collection's playbooks like an operator: ansible-playbook -i inventories/<inventory>."""

    def __init__(self, workdir: Path, base_vars: dict, inventory: str = "local"):
        self.workdir = workdir
        self.base_vars = base_vars
        self.inventory = inventory
        self.count = 0

    def command(
        self, playbook: str, extra: dict | None = None, args: list[str] | None = None
    ) -> tuple[list[str], Path]:
        self.count += 1
        varsfile = self.workdir / f"vars-{self.count}.json"
        data = dict(self.base_vars)
        data.update(extra or {})
        varsfile.write_text(json.dumps(data))
        log = self.workdir / f"run-{self.count}-{Path(playbook).stem}.log"
        cmd = [
            str(VENV_BIN / "ansible-playbook"),
            f"playbooks/{playbook}",
            "-i",
            f"inventories/{self.inventory}",
            "-e",
            f"@{varsfile}",
            *(args or []),
        ]
        return cmd, log

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            {
                "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
                "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def run(
        self,
        playbook: str,
        extra: dict | None = None,
        args: list[str] | None = None,
        timeout: float = 600,
    ) -> Result:
        cmd, log = self.command(playbook, extra, args)
        started = time.monotonic()
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            check=False,
            text=True,
            timeout=timeout,
        )
        output = proc.stdout + proc.stderr
        log.write_text(output)
        return Result(proc.returncode, output, time.monotonic() - started, log)

    def start(self, playbook: str, extra: dict | None = None, args: list[str] | None = None):
        cmd, log = self.command(playbook, extra, args)
        handle = log.open("w")
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return proc, log, handle, time.monotonic()

    @staticmethod
    def finish(started, timeout: float = 600) -> Result:
        proc, log, handle, t0 = started
        proc.wait(timeout=timeout)
        handle.close()
        return Result(proc.returncode, log.read_text(), time.monotonic() - t0, log)


def get_json(url: str, timeout: float = 3) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local test URL
        return json.loads(response.read().decode())


def wait_for_version(url: str, version: str, timeout: float = 60) -> str:
    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        try:
            last = get_json(url).get("version")
            if last == version:
                return last
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = repr(exc)
        time.sleep(1)
    return last


class Load(threading.Thread):
    """A bounded loop of HTTP GETs (about `rate` per second) recording failures and versions seen."""

    def __init__(self, url: str, rate: float = 20):
        super().__init__(daemon=True)
        self.url, self.period = url, 1.0 / rate
        self.stop_event = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.versions: dict[str, int] = {}

    def run(self):
        while not self.stop_event.is_set():
            t0 = time.monotonic()
            try:
                version = get_json(self.url, timeout=5).get("version", "?")
                self.ok += 1
                self.versions[version] = self.versions.get(version, 0) + 1
            except Exception as exc:  # noqa: BLE001 - every failure counts
                self.failures.append(f"{time.strftime('%H:%M:%S')} {exc!r}")
            self.stop_event.wait(max(0.0, self.period - (time.monotonic() - t0)))

    def wait_for_version(self, version: str, timeout: float) -> float:
        """Seconds until `version` was answered (at most `timeout`: the assertions on the versions then say it)."""
        started = time.monotonic()
        while version not in self.versions and time.monotonic() - started < timeout:
            time.sleep(0.2)
        return time.monotonic() - started

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)


class Webhook:
    """A local HTTP server recording the JSON bodies POSTed to it."""

    def __init__(self):
        self.events: list[dict] = []
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    received.append(json.loads(body))
                except ValueError:
                    received.append({"raw": body.decode(errors="replace")})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):  # silence
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


FIGURES: list[tuple[str, str]] = []


def record_figure(name: str, value: str) -> None:
    """Remember one measured figure for the terminal summary (and print it for -s runs)."""
    FIGURES.append((name, value))
    print(f"[pipeline] {name}: {value}")
