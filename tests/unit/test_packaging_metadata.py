"""What the collection declares for packaging, read as data (issue 17): runtime requirements as ranges that
the development toolchain pins, and one license across galaxy.yml, the roles and LICENSE. The tarball itself is
built and installed by tests/functional/test_packaging.py."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())


def requirement_names(path):
    names = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            match = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", line)
            names[match.group(1).lower()] = match.group(2)
    return names


def version_tuple(version):
    """ "1.2.10" -> (1, 2, 10), for comparing versions numerically."""
    return tuple(int(part) for part in version.split("."))


def test_runtime_requirements_are_ranges_and_the_dev_toolchain_pins_each_of_them():
    runtime = requirement_names(ROOT / "requirements.txt")
    dev = requirement_names(ROOT / "requirements-dev.txt")
    assert {"ansible-core", "kubernetes", "requests", "docker", "jsonpatch"} <= set(runtime)
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    for name, spec in runtime.items():
        assert spec.startswith(">=") and ",<" in spec, f"requirements.txt: {name} {spec} is not a range"
    for name, spec in dev.items():
        assert re.fullmatch(r"==[0-9][0-9A-Za-z.]*", spec), f"requirements-dev.txt: {name} {spec!r} is not an exact pin"
    assert set(runtime) <= set(dev), f"requirements-dev.txt pins none of {set(runtime) - set(dev)}"
    for name in runtime:
        version = dev[name][2:]
        lower, upper = re.fullmatch(r">=([0-9.]+),<([0-9.]+)", runtime[name]).groups()
        assert version_tuple(lower) <= version_tuple(version) < version_tuple(upper), (
            f"{name}=={version} outside {runtime[name]}"
        )


def test_one_license_across_galaxy_yml_the_roles_and_the_license_file():
    assert GALAXY["license"] == ["GPL-3.0-or-later"]
    assert "GNU GENERAL PUBLIC LICENSE" in (ROOT / "LICENSE").read_text()
    for meta in sorted((ROOT / "roles").glob("*/meta/main.yml")):
        info = yaml.safe_load(meta.read_text())["galaxy_info"]
        assert info["license"] == "GPL-3.0-or-later", f"{meta.relative_to(ROOT)}: license {info['license']}"
