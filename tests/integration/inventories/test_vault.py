"""Vault passwords per inventory: the local demo password never encrypts staging or production secrets.

Runs ansible-vault from the repository root as an operator would, following inventories/README.md, with an
environment that has no vault setting of its own (only the repository's ansible.cfg).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
VAULT = ROOT / ".venv" / "bin" / "ansible-vault"
DEMO_PASSWORD_FILE = ROOT / "inventories" / "local" / "vault-password.txt"
ENVIRONMENTS = ("staging", "production")


def operator_env() -> dict[str, str]:
    """The shell of someone at the repository root: ansible.cfg applies, no vault variable is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_VAULT")}
    env.pop("ANSIBLE_CONFIG", None)
    return env


def vault(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VAULT), *args],
        cwd=ROOT,
        env=operator_env(),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(params=ENVIRONMENTS)
def real_vault_file(request):
    """vault.yml made from the environment's example, where the README says to put it; removed afterwards."""
    folder = ROOT / "inventories" / request.param / "group_vars" / "all"
    target = folder / "vault.yml"
    assert not target.exists(), f"{target} exists: this test would overwrite a real vault file"
    shutil.copy(folder / "vault.yml.example", target)
    yield target
    target.unlink(missing_ok=True)


def test_the_real_vault_files_are_ignored_by_git():
    for env in ENVIRONMENTS:
        path = f"inventories/{env}/group_vars/all/vault.yml"
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{path} is not git-ignored: real secrets could be committed"


def test_encrypt_without_a_password_of_its_own_is_refused(real_vault_file):
    before = real_vault_file.read_text()
    done = vault("encrypt", str(real_vault_file))
    assert done.returncode != 0, f"ansible-vault encrypted with a password nobody gave it:\n{done.stdout}"
    assert real_vault_file.read_text() == before


def test_encrypt_with_the_environment_password_cannot_be_opened_with_the_demo_one(real_vault_file, tmp_path):
    password_file = tmp_path / "prod-password"
    password_file.write_text("a-password-only-the-operator-knows\n")
    done = vault("encrypt", "--vault-id", f"prod@{password_file}", str(real_vault_file))
    assert done.returncode == 0, done.stderr
    header = real_vault_file.read_text().splitlines()[0]
    assert header.startswith("$ANSIBLE_VAULT;1.2;AES256;prod"), header

    with_demo = vault("view", "--vault-password-file", str(DEMO_PASSWORD_FILE), str(real_vault_file))
    assert with_demo.returncode != 0, "the demo password opens a staging/production vault"
    with_own = vault("view", "--vault-id", f"prod@{password_file}", str(real_vault_file))
    assert with_own.returncode == 0 and "CHANGE_ME" in with_own.stdout


def test_the_local_inventory_still_opens_with_the_demo_password():
    done = vault(
        "view",
        "--vault-id",
        f"local@{DEMO_PASSWORD_FILE}",
        str(ROOT / "inventories" / "local" / "group_vars" / "all" / "vault.yml"),
    )
    assert done.returncode == 0, done.stderr
    assert "secrets_values" in done.stdout
