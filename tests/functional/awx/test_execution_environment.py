"""`ansible-builder create` on execution-environment.yml (ansible-builder v3).

It runs for real on a copy of the definition with a freshly built collection tarball; the generated build
context must install this collection, its collection dependencies, the Python requirements and the system
packages. No image is built (that needs a base EE image). The definition and bindep.txt themselves are checked
by tests/unit/awx/test_execution_environment_definition.py.
"""

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def _load(path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


GALAXY = _load(ROOT / "galaxy.yml")
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"


def _tool(name):
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if not found:
            pytest.skip(f"{name} is not installed (requirements-dev.txt)")
        path = Path(found)
    return str(path)


@pytest.fixture(scope="module")
def build_context(tmp_path_factory):
    """Copy the definition and its files, build the collection tarball beside it, run ansible-builder create."""
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        shutil.copy(ROOT / name, work / name)
    subprocess.run(
        [_tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(work / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = subprocess.run(
        [
            _tool("ansible-builder"),
            "create",
            "-f",
            "execution-environment.yml",
            "--context",
            "context",
            "--output-filename",
            "Containerfile",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No matches" not in result.stdout + result.stderr, "additional_build_files found no collection tarball"
    return work / "context"


def test_builder_create_writes_a_context_that_installs_the_collection(build_context):
    containerfile = (build_context / "Containerfile").read_text(encoding="utf-8")
    assert "ansible-galaxy collection install" in containerfile
    assert "-r requirements.yml" in containerfile
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    assert "ansible-core>=2.19,<2.20" in containerfile and "ansible-runner==" in containerfile

    requirements = yaml.safe_load((build_context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    names = [entry["name"] for entry in requirements["collections"]]
    assert names[0] == f"collections/{TARBALL}"
    assert {"kubernetes.core", "community.docker"} <= set(names)

    pip = (build_context / "_build" / "requirements.txt").read_text(encoding="utf-8")
    # Ranges, not pins: the EE resolves compatible versions (the exact pins are the dev toolchain's).
    for package in ("kubernetes", "requests", "docker", "jsonpatch"):
        assert re.search(rf"^{re.escape(package)}>=[0-9.]+,<[0-9.]+$", pip, re.M), (
            f"{package} missing from the EE's Python requirements, or not as a range"
        )
    assert re.search(r"^git\b", (build_context / "_build" / "bindep.txt").read_text(encoding="utf-8"), re.M)


def test_context_tarball_is_the_collection(build_context):
    tarball = build_context / "_build" / "collections" / TARBALL
    assert tarball.is_file()
    with tarfile.open(tarball) as archive:
        members = set(archive.getnames())
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (
        GALAXY["namespace"],
        GALAXY["name"],
        GALAXY["version"],
    )
    assert not any(name.startswith(("tests/", ".venv/", ".local/", "hack/")) for name in members)
