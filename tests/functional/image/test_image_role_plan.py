"""The image role's preflight: input checks that name the field, and the build plan (repositories,
tags, contexts, build args and labels), run with ansible-playbook but without Docker or a registry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.runner import ROOT, run_playbook

PLAYBOOK = Path(__file__).resolve().parent / "files" / "preflight.yml"


def plan(tmp_path, **extra):
    variables = {
        "image_registry": "registry.example:5000",
        "image_version": "1.4.0",
        "image_commit": "3f2a9c1b7d0e",
        "plan_file": str(tmp_path / "plan.json"),
        "ansible_python_interpreter": sys.executable,
    }
    variables.update(extra)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    proc = run_playbook(
        PLAYBOOK,
        inventory="localhost,",
        extra_files=[tmp_path / "vars.json"],
        args=("-c", "local"),
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        return None, output
    return {item["name"]: item for item in json.loads((tmp_path / "plan.json").read_text())}, output


def test_default_plan_builds_the_demo_app(tmp_path):
    result, output = plan(tmp_path)
    assert result is not None, output
    assert set(result) == {"frontend", "backend"}
    backend = result["backend"]
    assert backend["repository"] == "registry.example:5000/intelligent-agent/backend"
    assert backend["path"] == "intelligent-agent/backend"
    assert backend["tags"] == ["1.4.0", "3f2a9c1b7d0e"]
    assert Path(backend["context"]).resolve() == (ROOT / "examples" / "demo-app" / "backend").resolve()
    assert backend["dockerfile"] == "Dockerfile"
    assert backend["build_args"] == {"APP_VERSION": "1.4.0", "APP_COMMIT": "3f2a9c1b7d0e"}
    labels = backend["labels"]
    assert labels["org.opencontainers.image.version"] == "1.4.0"
    assert labels["org.opencontainers.image.revision"] == "3f2a9c1b7d0e"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["io.intelligent-agent-platform.component"] == "backend"


def test_overrides_build_args_labels_and_restriction(tmp_path):
    result, output = plan(
        tmp_path,
        image_namespace="",
        image_build_args={"BROKEN": "unready", "SHARED": 1},
        image_labels={"team": "platform", "org.opencontainers.image.version": "ignored"},
        image_component_overrides={
            "backend": {
                "build_args": {"SHARED": "mine", "RUNTIME_IMAGE": "base:1"},
                "target": "runtime",
                "repository": "custom/api",
                "labels": {"tier": "api"},
            }
        },
        image_only_components="backend",
    )
    assert result is not None, output
    assert set(result) == {"backend"}
    backend = result["backend"]
    assert backend["repository"] == "registry.example:5000/custom/api"
    assert backend["target"] == "runtime"
    assert backend["build_args"] == {
        "APP_VERSION": "1.4.0",
        "APP_COMMIT": "3f2a9c1b7d0e",
        "BROKEN": "unready",
        "SHARED": "mine",
        "RUNTIME_IMAGE": "base:1",
    }
    assert backend["labels"]["team"] == "platform" and backend["labels"]["tier"] == "api"
    assert backend["labels"]["org.opencontainers.image.version"] == "1.4.0"


def test_restriction_to_components_without_an_image_builds_only_the_known_ones(tmp_path):
    result, output = plan(tmp_path, image_only_components=["frontend", "worker"])
    assert result is not None, output
    assert set(result) == {"frontend"}
    assert "worker (skipped)" in output
    result, output = plan(tmp_path, image_only_components="worker")
    assert result == {}, output


def test_commit_defaults_to_the_sources_git_commit(tmp_path):
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    result, output = plan(tmp_path, image_commit="", image_source_dir=str(ROOT))
    assert result is not None, output
    assert result["frontend"]["tags"] == ["1.4.0", head.stdout.strip()]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"image_version": "1.4.0+build"}, "image_version"),
        ({"image_version": ""}, "image_version"),
        ({"image_registry": "registry.example/team"}, "image_namespace"),
        ({"image_component_overrides": {"api": {"target": "x"}}}, "image_component_overrides.api"),
        ({"image_components": [{"name": "Bad_Name", "context": "examples/demo-app/backend"}]}, "Bad_Name"),
        ({"image_components": [{"name": "api", "context": "examples/demo-app/nothing-here"}]}, "no Dockerfile"),
        ({"image_components": [{"name": "api", "context": "x", "colour": "red"}]}, "colour"),
    ],
)
def test_bad_inputs_fail_naming_the_field(tmp_path, extra, expected):
    result, output = plan(tmp_path, **extra)
    assert result is None, "the preflight should have failed"
    assert expected in output
