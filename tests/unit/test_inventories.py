"""The environments' inventories carry the spec's numbers (../shared/seed: rollout timeouts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def group_vars(environment: str) -> dict:
    path = ROOT / "inventories" / environment / "group_vars" / "all" / "main.yml"
    return yaml.safe_load(path.read_text())


def role_default(role: str, name: str):
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())[name]


@pytest.mark.parametrize(
    ("environment", "seconds"),
    [("staging", 300), ("production", 600)],  # the spec: 5-minute staging, 10-minute production rollout
)
def test_rollout_wait_matches_the_spec(environment, seconds):
    configured = group_vars(environment).get(
        "release_wait_timeout", role_default("release", "release_wait_timeout")
    )
    assert configured == seconds
