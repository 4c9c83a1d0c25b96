"""Helpers for the role tests that need no cluster: they render manifests with
tests/integration/roles/playbooks/render.yml (the roles' render-only switch) or run the
roles' `validate` entry points, through ansible-playbook (tests/support/runner.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from support import runner

ROOT = runner.ROOT
PLAYBOOKS = ROOT / "tests" / "integration" / "roles" / "playbooks"
FAKE_SECRETS = ROOT / "tests" / "integration" / "roles" / "files" / "production-secrets.yml"


def run_playbook(
    playbook: Path,
    inventory: str,
    extra_vars: dict | None = None,
    extra_files=(),
    args=(),
    timeout=300,
):
    """ansible-playbook -i inventories/<inventory> from the repository root (support.runner.run_playbook);
    returns the CompletedProcess (text, stdout+stderr). tests/integration/roles uses it too."""
    return runner.run_playbook(
        playbook,
        inventory=ROOT / "inventories" / inventory,
        extra_vars=extra_vars,
        extra_files=extra_files,
        args=args,
        timeout=timeout,
    )


def render(tmp_path: Path, inventory: str, extra_vars: dict | None = None, secrets=True) -> list[dict]:
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
    docs = [d for d in yaml.safe_load_all((tmp_path / "manifests.yaml").read_text()) if d]
    (tmp_path / "manifests.yaml").unlink()  # holds (fake) secret values
    return docs


def find(docs: list[dict], kind: str, name: str | None = None) -> dict:
    matches = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in matches]}"
    return matches[0]
