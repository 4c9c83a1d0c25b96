"""The demo frontend's build stage (examples/demo-app/frontend/build.sh), run with sh. The files the image
ships (nginx features, Dockerfiles) are checked by tests/unit/image/test_demo_frontend_files.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[3] / "examples" / "demo-app" / "frontend"


def build(tmp_path, version="1.2.3", commit="abc123"):
    out = tmp_path / "out"
    proc = subprocess.run(
        ["sh", str(FRONTEND / "build.sh"), str(FRONTEND / "src"), str(out), version, commit],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc, out


def test_build_fingerprints_assets_and_stamps_the_release(tmp_path):
    proc, out = build(tmp_path)
    assert proc.returncode == 0, proc.stderr
    index = (out / "index.html").read_text()
    assets = sorted(p.name for p in (out / "assets").iterdir())
    assert all(re.match(r"^app\.[0-9a-f]{10}\.(css|js)$", name) for name in assets), assets
    for name in assets:
        assert f"/assets/{name}" in index
    assert "__APP_" not in index
    assert 'content="1.2.3"' in index and 'content="abc123"' in index
    assert json.loads((out / "version.json").read_text()) == {"version": "1.2.3", "commit": "abc123"}


def test_build_is_deterministic(tmp_path):
    first = build(tmp_path / "a")[1]
    second = build(tmp_path / "b")[1]
    assert sorted(p.name for p in (first / "assets").iterdir()) == sorted(p.name for p in (second / "assets").iterdir())


@pytest.mark.parametrize("version", ["1.0.0;rm -rf /", "1|2", "a b"])
def test_build_refuses_unsafe_versions(tmp_path, version):
    proc, dummy = build(tmp_path, version=version)
    assert proc.returncode != 0
    assert "may only hold" in proc.stderr
