"""The security checks `make security` runs (hack/tools): secret scanning against .secrets.baseline and the license
check of the runtime Python packages. Pure Python: detect-secrets' API and the decision functions, no CLI."""

import json
import random
import string
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "hack" / "tools"))

import license_check  # noqa: E402
import secret_scan  # noqa: E402

BASELINE = ROOT / ".secrets.baseline"
# A demo/test file whose realistic-looking fake values the baseline lists.
KNOWN_FAKES = "tests/integration/roles/files/production-secrets.yml"


def real_looking_secrets():
    """Values no file holds: made here, so this test file itself has nothing for the scanner to find."""
    rng = random.SystemRandom()
    aws_key = "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _position in range(16))
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _position in range(40))
    return aws_key, token


def test_a_new_real_looking_secret_fails_the_scan(tmp_path):
    aws_key, token = real_looking_secrets()
    (tmp_path / "settings.yml").write_text(f'aws_access_key_id: {aws_key}\napi_password: "{token}"\n')
    (tmp_path / "clean.yml").write_text("replicas: 3\nimage: registry.example.com/app@sha256:" + "0" * 64 + "\n")
    findings = secret_scan.new_secrets(["settings.yml", "clean.yml"], BASELINE, tmp_path)
    kinds = {kind for filename, _line, kind in findings if filename == "settings.yml"}
    assert "AWS Access Key" in kinds, findings
    assert not [f for f in findings if f[0] == "clean.yml"], findings


def test_the_known_fakes_of_the_demo_and_the_tests_pass(tmp_path):
    assert not secret_scan.new_secrets([KNOWN_FAKES], BASELINE, ROOT)


def test_a_known_fake_copied_into_another_file_is_reported(tmp_path):
    """The baseline allows a value in its file only: the same fake elsewhere is a new finding."""
    copy = tmp_path / "tests" / "integration" / "roles" / "files"
    copy.mkdir(parents=True)
    (copy / "copied-secrets.yml").write_text((ROOT / KNOWN_FAKES).read_text())
    findings = secret_scan.new_secrets(["tests/integration/roles/files/copied-secrets.yml"], BASELINE, tmp_path)
    assert findings and {f[0] for f in findings} == {"tests/integration/roles/files/copied-secrets.yml"}


def test_the_baseline_is_audited_and_current():
    baseline = json.loads(BASELINE.read_text())
    assert baseline["results"], "an empty baseline would mean the demo's fake values are no longer scanned"
    for filename, results in baseline["results"].items():
        assert (ROOT / filename).is_file(), f"{filename} is gone: regenerate .secrets.baseline"
        for result in results:
            assert result.get("is_secret") is False, f"{filename}:{result['line_number']} is not audited as fake"
    assert KNOWN_FAKES in baseline["results"]
    plugins = {plugin["name"] for plugin in baseline["plugins_used"]}
    assert {"AWSKeyDetector", "KeywordDetector", "PrivateKeyDetector", "Base64HighEntropyString"} <= plugins


def test_the_scan_covers_the_tree_git_knows_and_not_the_ignored_files():
    files = secret_scan.files_to_scan(ROOT)
    assert "galaxy.yml" in files and "inventories/local/vault-password.txt" in files
    assert ".secrets.baseline" not in files
    assert not [f for f in files if f.startswith((".venv/", ".local/", ".git/", "backups/"))]


ALLOWED = license_check.read_allowlist(ROOT / "hack" / "tools" / "license-allowlist.txt")


@pytest.mark.parametrize(
    "text",
    [
        "MIT",
        "MIT License",
        "Apache Software License",
        "BSD-3-Clause",
        "GNU General Public License v3 or later (GPLv3+)",
        "Mozilla Public License 2.0 (MPL 2.0)",
        "Apache-2.0 OR BSD-3-Clause",
        "(Apache-2.0 OR BSD-2-Clause)",
        "MIT AND BSD-3-Clause",
        "Apache Software License; BSD License",
    ],
)
def test_licenses_compatible_with_gpl3_are_allowed(text):
    assert license_check.license_allowed(text, ALLOWED)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "UNKNOWN",
        "GPL-2.0-only",
        "SSPL-1.0",
        "Proprietary",
        "Commons Clause",
        "MIT AND SSPL-1.0",
        "Apache Software License; Other/Proprietary License",
        "BUSL-1.1 OR Elastic-2.0",
    ],
)
def test_unknown_or_incompatible_licenses_fail(text):
    assert not license_check.license_allowed(text, ALLOWED)


def test_problems_name_the_package_and_its_license():
    rows = [
        {"Name": "requests", "Version": "2.32.5", "License": "Apache Software License"},
        {"Name": "mystery", "Version": "1.0", "License": "UNKNOWN"},
    ]
    assert license_check.problems(rows, ALLOWED) == ["mystery 1.0: license 'UNKNOWN' is not on the allow-list"]


def test_the_dependency_closure_follows_requirements_and_markers_not_extras():
    from packaging.requirements import Requirement

    requires = {
        "app": [
            "lib>=1",
            "win-only; sys_platform == 'win32'",
            "extra-lib; extra == 'fancy'",
            "old; python_version < '3'",
        ],
        "lib": ["base", "app"],  # a cycle
        "base": [],
    }
    names, missing = license_check.dependency_closure(
        [Requirement("app>=1"), Requirement("absent")], requires.get, environment={"sys_platform": "linux"}
    )
    assert names == {"app", "lib", "base"}
    assert missing == {"absent"}


def test_the_runtime_requirements_close_over_installed_packages():
    requirements = license_check.read_requirements(ROOT / "requirements.txt")
    names, missing = license_check.dependency_closure(requirements, license_check.installed_requires)
    assert not missing, f"not installed: {missing} (make venv)"
    assert {"ansible-core", "kubernetes", "requests", "jinja2", "urllib3"} <= names
    # The dev toolchain is not a runtime dependency.
    assert not {"ansible-lint", "pytest", "detect-secrets", "ansible"} & names
