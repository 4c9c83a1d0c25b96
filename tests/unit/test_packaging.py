"""The collection builds into a tarball that installs and documents itself (issue 2's done list)."""
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

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
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(install_dir),
                    str(tarball)], check=True, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert (install_dir / "ansible_collections" / "intelligent_agent" / "platform" / "MANIFEST.json").is_file()
    modules = subprocess.run([str(BIN / "ansible-doc"), "-l", "intelligent_agent.platform"], check=True,
                             capture_output=True, text=True, cwd=tmp_path, env=env).stdout
    assert "intelligent_agent.platform.rollout_wait" in modules
    assert "intelligent_agent.platform.health_check" in modules
    syntax = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "intelligent_agent.platform.deploy"],
                            check=False, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
