"""execution-environment.yml (ansible-builder v3) and bindep.txt, read as data: the definition's dependencies,
the collection tarball it installs and the system packages. tests/functional/awx/test_execution_environment.py
runs `ansible-builder create` on it.
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
EE_FILE = ROOT / "execution-environment.yml"


def _load(path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


EE = _load(EE_FILE)
GALAXY = _load(ROOT / "galaxy.yml")
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"


def _collections():
    return {entry["name"]: entry for entry in EE["dependencies"]["galaxy"]["collections"]}


def test_definition_is_version_3_with_every_dependency():
    assert EE["version"] == 3
    deps = EE["dependencies"]
    assert deps["python"] == "requirements.txt"
    assert deps["system"] == "bindep.txt"
    assert "ansible-core" in deps["ansible_core"]["package_pip"]
    assert deps["ansible_runner"]["package_pip"].startswith("ansible-runner")
    assert EE["images"]["base_image"]["name"]


def test_collection_tarball_matches_galaxy_yml():
    collections = _collections()
    assert f"collections/{TARBALL}" in collections, f"bump the tarball name in execution-environment.yml to {TARBALL}"
    assert collections[f"collections/{TARBALL}"]["type"] == "file"
    sources = [entry["src"] for entry in EE["additional_build_files"]]
    assert any(Path(TARBALL).match(src.split("/")[-1]) for src in sources)


def test_collection_dependencies_of_galaxy_yml_are_installed():
    collections = _collections()
    for dependency, version in GALAXY["dependencies"].items():
        assert dependency in collections, f"{dependency} missing from the EE"
        assert collections[dependency]["version"] == version


def test_bindep_lists_the_binaries_the_roles_call():
    packages = {}
    for line in (ROOT / "bindep.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9.+_-]*)(?:\s+\[([a-z0-9:_ !-]+)\])?", line)
        assert match, f"not a bindep line: {line!r}"
        packages[match.group(1)] = (match.group(2) or "").split()
    assert "git" in packages
    assert "docker.io" in packages and "platform:dpkg" in packages["docker.io"]
    assert "ca-certificates" in packages
