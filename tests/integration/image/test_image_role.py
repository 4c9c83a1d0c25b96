"""The image role against the real Docker engine and the local registry: builds from the local base
images, version and commit tags, idempotence, per-version digests, check mode, broken releases.
"""

from __future__ import annotations

import json

from image_helpers import REGISTRY, manifest_digest, registry_tags, run

BASE_CHECKS = {
    "debian-python": "python3 -c 'import ssl, http.server, json; print(\"ok\")'",
    "debian-nginx": "nginx -t -q -e /dev/stderr && command -v wget >/dev/null && echo ok",
    "debian-prometheus": "/usr/bin/prometheus --version >/dev/null 2>&1 && echo ok",
}


def test_base_images_are_in_the_registry_and_run_as_1001_read_only(registry):
    for name, check in BASE_CHECKS.items():
        ref = f"{registry}/base/{name}:bookworm"
        assert manifest_digest(f"base/{name}", "bookworm"), f"{ref} is not in the registry"
        proc = run(
            [
                "docker",
                "run",
                "--rm",
                "--read-only",
                "--user",
                "1001",
                "--cap-drop",
                "ALL",
                "--tmpfs",
                "/tmp",
                "--network",
                "none",
                "--entrypoint",
                "/bin/sh",
                ref,
                "-c",
                check,
            ],
            timeout=300,
        )
        assert proc.stdout.strip().endswith("ok"), f"{name}: {proc.stdout} {proc.stderr}"


def test_role_builds_both_images_and_pushes_version_and_commit_tags(release):
    results = release["run"].results
    assert set(results) == {"frontend", "backend"}
    for name, result in results.items():
        path = f"{release['namespace']}/{name}"
        assert result["built"] is True
        assert result["repository"] == f"{REGISTRY}/{path}"
        assert result["tags"] == [release["version"], release["commit"]]
        assert {release["version"], release["commit"]} <= registry_tags(path)
        # The returned digest is the registry's manifest digest of the version tag.
        digest = manifest_digest(path, release["version"])
        assert result["digest"] == digest
        assert result["reference"] == f"{REGISTRY}/{path}@{digest}"
        assert manifest_digest(path, release["commit"]) == digest
        assert result["size_bytes"] > 1_000_000
        assert result["image_size_bytes"] > result["size_bytes"]
        print(
            f"{name}: {result['size_bytes'] / 2**20:.1f} MiB compressed,"
            f" {result['image_size_bytes'] / 2**20:.1f} MiB unpacked"
        )


def test_image_labels_carry_the_release(release):
    ref = f"{REGISTRY}/{release['namespace']}/backend:{release['version']}"
    labels = json.loads(run(["docker", "image", "inspect", "-f", "{{json .Config.Labels}}", ref]).stdout)
    assert labels["org.opencontainers.image.version"] == release["version"]
    assert labels["org.opencontainers.image.revision"] == release["commit"]
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.created"].endswith("Z")


def test_second_run_without_changes_does_not_rebuild(role, release):
    again = role({"image_version": release["version"], "image_commit": release["commit"]})
    print(f"\nsecond run (nothing to build): {again.seconds:.1f}s")
    assert again.changed == 0
    for name, result in again.results.items():
        assert result["built"] is False
        assert result["digest"] == release["run"].results[name]["digest"]


def test_second_version_from_the_same_commit_gets_its_own_digest(role, release):
    newer = role(
        {
            "image_version": "1.0.1",
            "image_commit": release["commit"],
            "image_only_components": ["backend"],
        }
    )
    assert set(newer.results) == {"backend"}
    result = newer.results["backend"]
    path = f"{release['namespace']}/backend"
    assert result["built"] is True
    assert result["tags"] == ["1.0.1", release["commit"]]
    assert result["digest"] == manifest_digest(path, "1.0.1")
    assert result["digest"] != release["run"].results["backend"]["digest"]
    # The older version keeps its digest; asking for it again returns that one, not the newer.
    older = role(
        {
            "image_version": release["version"],
            "image_commit": release["commit"],
            "image_only_components": "backend",
        }
    )
    assert older.changed == 0
    assert older.results["backend"]["digest"] == release["run"].results["backend"]["digest"]
    assert manifest_digest(path, release["version"]) == release["run"].results["backend"]["digest"]


def test_image_force_rebuilds(role, release):
    forced = role(
        {
            "image_version": "1.0.2",
            "image_commit": release["commit"],
            "image_only_components": ["frontend"],
        }
    )
    assert forced.results["frontend"]["built"] is True
    again = role(
        {
            "image_version": "1.0.2",
            "image_commit": release["commit"],
            "image_only_components": ["frontend"],
            "image_force": True,
        }
    )
    assert again.results["frontend"]["built"] is True
    assert again.changed > 0
    assert again.results["frontend"]["digest"] == manifest_digest(f"{release['namespace']}/frontend", "1.0.2")


def test_check_mode_reports_without_building(role, release):
    path = f"{release['namespace']}/backend"
    before = registry_tags(path)
    checked = role(
        {
            "image_version": "9.9.9",
            "image_commit": "feedface",
            "image_only_components": ["backend"],
        },
        check_mode=True,
    )
    assert "backend: would build" in checked.output
    assert checked.results["backend"]["built"] is True
    assert checked.results["backend"]["reference"] == ""
    assert registry_tags(path) == before


def test_invalid_version_fails_naming_the_field(role):
    failed = role({"image_version": "1.0.0+build", "image_commit": "abc"}, expect_failure=True)
    assert "image_version" in failed.output
