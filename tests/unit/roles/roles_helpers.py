"""Helpers for the role tests that need no cluster: they render manifests with
tests/integration/roles/playbooks/render.yml (the roles' render-only switch) or run the
roles' `validate` entry points, through ansible-playbook."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = ROOT / ".venv" / "bin"
PLAYBOOKS = ROOT / "tests" / "integration" / "roles" / "playbooks"
FAKE_SECRETS = (
    ROOT / "tests" / "integration" / "roles" / "files" / "production-secrets.yml"
)


def run_playbook(
    playbook: Path,
    inventory: str,
    extra_vars: dict | None = None,
    extra_files=(),
    args=(),
    timeout=300,
):
    """ansible-playbook from the repository root; returns the CompletedProcess (text, stdout+stderr)."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    cmd = [
        "ansible-playbook",
        "-i",
        str(ROOT / "inventories" / inventory),
        str(playbook),
    ]
    for path in extra_files:
        cmd += ["-e", f"@{path}"]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += list(args)
    return subprocess.run(
        cmd,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def render(
    tmp_path: Path, inventory: str, extra_vars: dict | None = None, secrets=True
) -> list[dict]:
    """Render every manifest of the four roles for an inventory; returns the objects."""
    variables = {"render_dir": str(tmp_path), "platform_version": "1.2.3"}
    variables.update(extra_vars or {})
    proc = run_playbook(
        PLAYBOOKS / "render.yml",
        inventory,
        variables,
        [FAKE_SECRETS] if secrets else [],
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    docs = [
        d for d in yaml.safe_load_all((tmp_path / "manifests.yaml").read_text()) if d
    ]
    (tmp_path / "manifests.yaml").unlink()  # holds (fake) secret values
    return docs


def find(docs: list[dict], kind: str, name: str | None = None) -> dict:
    matches = [
        d
        for d in docs
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert (
        len(matches) == 1
    ), f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in matches]}"
    return matches[0]
