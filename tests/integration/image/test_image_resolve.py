"""Deploy by digest against the real local registry: the image role's resolve entry point (module
intelligent_agent.platform.image_resolve) pins tags to the digest Docker itself reports, refuses a tag
the registry does not have naming the component, keeps digests given in platform_images; and the build
path refuses to overwrite a release tag built from another commit unless image_force.
"""

from __future__ import annotations

import json
import os

import pytest

from image_helpers import REGISTRY, http, manifest_digest, run


@pytest.fixture(scope="module")
def pushed(registry, run_id):
    """A small image (a label on the local Debian base image) pushed as <ns>/app:1.0 and <ns>/app:1.1."""
    namespace = f"it-resolve-{run_id}"
    repo = f"{REGISTRY}/{namespace}/app"
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    digests = {}
    for tag in ("1.0", "1.1"):
        dockerfile = f"FROM {REGISTRY}/base/debian-python:bookworm\nLABEL it.resolve.tag={tag}-{run_id}\n"
        run(
            ["docker", "build", "-q", "-t", f"{repo}:{tag}", "-"],
            input=dockerfile,
            env=env,
            timeout=300,
        )
        run(["docker", "push", f"{repo}:{tag}"], timeout=300)
        # What Docker recorded for the push: <repo>@sha256:...
        digests[tag] = run(
            [
                "docker",
                "inspect",
                "--format",
                "{{index .RepoDigests 0}}",
                f"{repo}:{tag}",
            ]
        ).stdout.strip()
    yield {"namespace": namespace, "repo": repo, "refs": digests}
    run(["docker", "rmi", "-f", f"{repo}:1.0", f"{repo}:1.1"], check=False, timeout=120)
    for tag in ("1.0", "1.1"):
        digest = manifest_digest(f"{namespace}/app", tag)
        if digest:
            http(f"http://{REGISTRY}/v2/{namespace}/app/manifests/{digest}", "DELETE")


def test_a_pushed_tag_resolves_to_the_digest_docker_reports(role, pushed):
    repo = pushed["repo"]
    result = role(
        {"image_resolve_images": {"web": f"{repo}:1.0", "api": f"{repo}:1.1"}},
        playbook="resolve.yml",
    )
    assert result.results == {
        "web": pushed["refs"]["1.0"],
        "api": pushed["refs"]["1.1"],
    }
    assert pushed["refs"]["1.0"] == f"{repo}@{manifest_digest(pushed['namespace'] + '/app', '1.0')}"
    assert pushed["refs"]["1.0"] != pushed["refs"]["1.1"]
    # Reading only: nothing reported changed, in check mode as well.
    assert result.changed == 0
    checked = role(
        {"image_resolve_images": {"web": f"{repo}:1.0"}},
        playbook="resolve.yml",
        check_mode=True,
    )
    assert checked.results == {"web": pushed["refs"]["1.0"]}


def test_a_missing_tag_is_refused_naming_the_component_and_the_reference(role, pushed):
    repo = pushed["repo"]
    failed = role(
        {
            "image_resolve_images": {
                "web": f"{repo}:1.0",
                "api": f"{repo}:9.9.9-missing",
            }
        },
        playbook="resolve.yml",
        expect_failure=True,
    )
    assert f"component api: {repo}:9.9.9-missing" in failed.output
    assert "component web" not in failed.output
    assert "Push them first" in failed.output


def test_platform_images_win_digests_are_kept_and_survey_strings_work(role, pushed):
    repo = pushed["repo"]
    pinned = pushed["refs"]["1.1"]
    result = role(
        {
            "image_resolve_images": {
                "web": f"{repo}:9.9.9-missing",
                "api": f"{repo}:1.0",
            },
            # As an AWX survey answers: a string of component=reference pairs.
            "platform_images": f"web={pinned}",
        },
        playbook="resolve.yml",
    )
    assert result.results == {"web": pinned, "api": pushed["refs"]["1.0"]}
    # A tag in platform_images is resolved too; only the selected components are pinned.
    only = role(
        {
            "image_resolve_images": {
                "web": f"{repo}:9.9.9-missing",
                "api": f"{repo}:9.9.9-missing",
            },
            "platform_images": {"api": f"{repo}:1.1"},
            "platform_components": "api",
        },
        playbook="resolve.yml",
    )
    assert only.results == {"api": pinned}
    unknown = role(
        {
            "image_resolve_images": {"web": f"{repo}:1.0"},
            "platform_images": {"db": f"{repo}:1.0"},
        },
        playbook="resolve.yml",
        expect_failure=True,
    )
    assert "platform images names unknown components: db" in unknown.output


def test_a_release_tag_of_another_commit_is_not_overwritten_without_image_force(role, release, run_id):
    path = f"{release['namespace']}/frontend"
    version = "3.0.0"
    first = role(
        {
            "image_version": version,
            "image_commit": f"aaa{run_id}",
            "image_only_components": "frontend",
        }
    )
    assert first.results["frontend"]["built"] is True
    before = manifest_digest(path, version)

    refused = role(
        {
            "image_version": version,
            "image_commit": f"bbb{run_id}",
            "image_only_components": "frontend",
        },
        expect_failure=True,
    )
    assert f"{REGISTRY}/{path}:{version}" in refused.output
    assert f"commit aaa{run_id}" in refused.output and f"commit bbb{run_id}" in refused.output
    assert "image_force" in refused.output
    assert "Build each image" not in refused.output, "the refusal must come before any build"
    assert manifest_digest(path, version) == before

    forced = role(
        {
            "image_version": version,
            "image_commit": f"bbb{run_id}",
            "image_only_components": "frontend",
            "image_force": True,
        }
    )
    assert forced.results["frontend"]["built"] is True
    after = manifest_digest(path, version)
    assert after != before and forced.results["frontend"]["digest"] == after
    labels = json.loads(
        run(
            [
                "docker",
                "image",
                "inspect",
                "-f",
                "{{json .Config.Labels}}",
                f"{REGISTRY}/{path}:{version}",
            ]
        ).stdout
    )
    assert labels["org.opencontainers.image.revision"] == f"bbb{run_id}"
