"""The collection builds into a tarball that installs and documents itself (issue 2's done list), ships one
license and its runtime requirements, and no secret or developer tooling (issue 17). ansible-galaxy,
ansible-doc and ansible-playbook run for real; tests/unit/test_packaging_metadata.py checks the requirement
files and the license declarations without them."""

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from support.runner import run_playbook

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
TARBALL_NAME = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"


def run(args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT, **kwargs)


def built_tarball(tmp_path):
    run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(tmp_path), "."])
    tarball = tmp_path / TARBALL_NAME
    assert tarball.is_file(), f"expected {TARBALL_NAME} in {sorted(p.name for p in tmp_path.iterdir())}"
    return tarball


def test_tarball_ships_the_collection_and_not_the_developer_tooling(tmp_path):
    names = tarfile.open(built_tarball(tmp_path)).getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert any(name.startswith("plugins/modules/") for name in names)
    assert any(name.startswith("roles/") for name in names)
    assert "playbooks/deploy.yml" in names
    for unshipped in ("hack/", "tests/", ".ci/", ".github/", ".venv/", ".local/", ".collections/"):
        assert not any(name.startswith(unshipped) for name in names), unshipped


def test_installed_tarball_lists_its_plugins_and_runs_its_playbook_by_fqcn(tmp_path):
    tarball = built_tarball(tmp_path)
    install_dir = tmp_path / "installed"
    # A user's machine: no repository ansible.cfg (whose .collections link would shadow the install).
    config = tmp_path / "ansible.cfg"
    config.write_text(f"[defaults]\ncollections_path = {install_dir}\n")
    env = {"ANSIBLE_CONFIG": str(config), "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(install_dir), str(tarball)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert (install_dir / "ansible_collections" / "intelligent_agent" / "platform" / "MANIFEST.json").is_file()
    modules = subprocess.run(
        [str(BIN / "ansible-doc"), "-l", "intelligent_agent.platform"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    ).stdout
    assert "intelligent_agent.platform.rollout_wait" in modules
    assert "intelligent_agent.platform.health_check" in modules
    # The repository's settings stay out: its ansible.cfg and the demo vault password.
    syntax = run_playbook(
        "intelligent_agent.platform.deploy",
        args=["--syntax-check"],
        cwd=tmp_path,
        base_env=env,
        env={"ANSIBLE_CONFIG": str(config), "ANSIBLE_VAULT_IDENTITY_LIST": None},
    )
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr


# What a tarball must never carry, planted in a copy of the tree (a developer's checkout has them all):
# secrets and credentials, the developer toolchain and its output.
PLANTED = {
    "inventories/production/group_vars/all/vault.yml": "real production secrets\n",
    "inventories/staging/group_vars/all/vault.yml": "real staging secrets\n",
    ".local/cluster/kubeconfig": "admin kubeconfig\n",
    ".venv/bin/python-stub": "\n",
    ".cache/pip/stub": "\n",
    "backups/intelligent-agent/20260101T000000Z/deployments.yml": "live manifests\n",
    "tests/output/junit.xml": "<testsuite/>\n",
    "molecule/default/.cache/stub": "\n",
    "dist/old-build.tar.gz": "\n",
    "deploy.log": "\n",
}
NOT_SHIPPED_FILES = {
    "inventories/local/vault-password.txt",  # the demo vault password
    "Makefile",
    "requirements-dev.txt",
    "requirements-checkov.txt",
    "pyproject.toml",
    ".secrets.baseline",
    ".gitignore",
    ".yamllint",
    ".ansible-lint",
    "deploy.log",
    "inventories/production/group_vars/all/vault.yml",
    "inventories/staging/group_vars/all/vault.yml",
}
NOT_SHIPPED_DIRS = (
    "tests/",
    "bench/",
    "hack/",
    "molecule/",
    "backups/",
    ".local/",
    ".venv/",
    ".cache/",
    ".ci/",
    ".github/",
    ".collections/",
    "dist/",
)
COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venv-*",
    ".local",
    ".ansible",
    ".collections",
    ".cache",
    ".pytest_cache",
    "__pycache__",
    "output",
    "dist",
    "backups",
    "context",
)


@pytest.fixture(scope="module")
def checkout_tarball(tmp_path_factory):
    """The tarball `make build` writes from a checkout that holds everything a developer's has."""
    work = tmp_path_factory.mktemp("checkout")
    tree = work / "platform"
    shutil.copytree(ROOT, tree, ignore=COPY_IGNORE, symlinks=True)
    for relative, content in PLANTED.items():
        (tree / relative).parent.mkdir(parents=True, exist_ok=True)
        (tree / relative).write_text(content)
    out = work / "dist"
    subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out), str(tree)],
        check=True,
        capture_output=True,
        text=True,
        cwd=work,
    )
    with tarfile.open(out / TARBALL_NAME) as archive:
        names = archive.getnames()
        texts = {
            name: archive.extractfile(name).read().decode()
            for name in ("requirements.txt", "bindep.txt", "LICENSE", "MANIFEST.json")
        }
    return names, texts


def test_checkout_tarball_ships_no_secret_and_no_developer_tooling(checkout_tarball):
    names, _texts = checkout_tarball
    shipped = set(names)
    assert not NOT_SHIPPED_FILES & shipped, sorted(NOT_SHIPPED_FILES & shipped)
    for prefix in NOT_SHIPPED_DIRS:
        assert not [name for name in names if name.startswith(prefix)], prefix
    for nested in (".cache/", ".venv/", ".local/"):
        assert not [name for name in names if f"/{nested}" in name], nested
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    # The local inventory still ships (encrypted demo values), only its password does not.
    assert "inventories/local/group_vars/all/vault.yml" in shipped
    assert "inventories/production/group_vars/all/vault.yml.example" in shipped


def test_checkout_tarball_ships_the_license_and_the_runtime_requirements(checkout_tarball):
    names, texts = checkout_tarball
    for shipped in (
        "LICENSE",
        "README.md",
        "requirements.txt",
        "bindep.txt",
        "meta/runtime.yml",
        "examples/app-repo/.github/workflows/build-deploy.yml",
    ):
        assert shipped in names, shipped
    assert "GNU GENERAL PUBLIC LICENSE" in texts["LICENSE"] and "Version 3" in texts["LICENSE"]
    manifest = json.loads(texts["MANIFEST.json"])["collection_info"]
    assert manifest["license"] == ["GPL-3.0-or-later"]
    # ansible-builder reads requirements.txt from the installed collection: ranges, never the dev pins.
    for line in texts["requirements.txt"].splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert "==" not in line and ">=" in line and "<" in line.replace("<=", ""), f"not a range: {line!r}"
