#!/usr/bin/env python3
"""License check of the collection's Python dependencies (what requirements.txt pulls into an EE, transitively).

Reads the runtime requirements (requirements.txt), walks their dependencies through the installed distributions of
the interpreter that runs it (the venv `make venv` builds), asks pip-licenses for each one's license and fails when a
license is not on the allow-list (hack/tools/license-allowlist.txt: licenses compatible with GPL-3.0-or-later, the
collection's license). `make security` runs it:

    .venv/bin/python hack/tools/license_check.py [--requirements requirements.txt] [--allowlist FILE]

A license string may hold several licenses: classifiers joined by "; " (each must be allowed) or an SPDX expression
with OR (one allowed is enough) and AND (all must be allowed).
"""

import argparse
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def read_requirements(path):
    """Requirement objects of a requirements file (comments, blank lines and -r/-c includes followed)."""
    requirements = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "-c ")):
            requirements += read_requirements(Path(path).parent / line[3:].strip())
            continue
        requirements.append(Requirement(line))
    return requirements


def dependency_closure(requirements, requires_of, environment=None):
    """Canonical names of the requirements and of everything they need, transitively.

    requires_of(name) returns the Requires-Dist strings of an installed distribution (None: not installed).
    Extras are not followed; environment markers are evaluated for this interpreter (or `environment`).
    """
    env = dict(default_environment(), **(environment or {}))
    env.setdefault("extra", "")
    seen, missing = set(), set()
    todo = [r for r in requirements if r.marker is None or r.marker.evaluate(env)]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        requires = requires_of(name)
        if requires is None:
            missing.add(name)
            continue
        seen.add(name)
        for spec in requires:
            dependency = Requirement(spec)
            if dependency.marker is None or dependency.marker.evaluate(env):
                todo.append(dependency)
    return seen, missing


def installed_requires(name):
    try:
        return metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return None


def read_allowlist(path):
    allowed = set()
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            allowed.add(line.casefold())
    return allowed


def license_allowed(license_text, allowed):
    """Whether a license string of pip-licenses is allowed (see the module docstring)."""
    text = (license_text or "").strip()
    if not text or text.upper() == "UNKNOWN":
        return False
    parts = [part.strip() for part in text.split(";") if part.strip()]
    if len(parts) > 1:
        return all(license_allowed(part, allowed) for part in parts)
    text = parts[0]
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    if text.casefold() in allowed:
        return True
    alternatives = re.split(r"\s+OR\s+", text)
    if len(alternatives) > 1:
        return any(license_allowed(alternative, allowed) for alternative in alternatives)
    required = re.split(r"\s+AND\s+", text)
    if len(required) > 1:
        return all(license_allowed(item, allowed) for item in required)
    return False


def problems(rows, allowed):
    """Messages for each package of pip-licenses' JSON rows whose license is not allowed."""
    return [
        f"{row['Name']} {row['Version']}: license {row['License']!r} is not on the allow-list"
        for row in sorted(rows, key=lambda r: r["Name"].lower())
        if not license_allowed(row.get("License"), allowed)
    ]


def pip_licenses(names):
    executable = Path(sys.executable).parent / "pip-licenses"
    result = subprocess.run(
        [str(executable), "--from=mixed", "--format=json", "--with-system", "--packages", *sorted(names)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", default=str(ROOT / "requirements.txt"))
    parser.add_argument("--allowlist", default=str(HERE / "license-allowlist.txt"))
    args = parser.parse_args(argv)

    names, missing = dependency_closure(read_requirements(args.requirements), installed_requires)
    if missing:
        print(
            f"not installed, so their licenses cannot be read: {', '.join(sorted(missing))}; run `make venv`",
            file=sys.stderr,
        )
        return 1
    rows = pip_licenses(names)
    reported = {canonicalize_name(row["Name"]) for row in rows}
    unreported = names - reported
    found = problems(rows, read_allowlist(args.allowlist))
    found += [f"{name}: pip-licenses reports no license" for name in sorted(unreported)]
    if found:
        print("License check failed:", *found, sep="\n  ", file=sys.stderr)
        print(
            f"Replace the package, or add its license to {args.allowlist} if it is compatible with "
            "GPL-3.0-or-later (ask before you do).",
            file=sys.stderr,
        )
        return 1
    print(f"License check passed: {len(rows)} runtime Python packages, all on the allow-list.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
