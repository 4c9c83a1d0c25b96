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
    configured = group_vars(environment).get("release_wait_timeout", role_default("release", "release_wait_timeout"))
    assert configured == seconds


def ingress_hosts(environment: str, component: str) -> list[str]:
    own = (group_vars(environment).get("app_component_overrides") or {}).get(component) or {}
    if "ingress" in own:
        return own["ingress"]["hosts"]
    defaults = {c["name"]: c for c in role_default("app", "app_components")}
    return defaults[component]["ingress"]["hosts"]


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_health_checks_go_through_the_ingress_hosts(environment):
    inventory = group_vars(environment)
    urls = inventory["platform_public_urls"]
    for component, url in urls.items():
        scheme, _sep, rest = url.partition("://")
        assert scheme == "https", url
        assert rest.split("/")[0] in ingress_hosts(environment, component), (component, url)
    checks = inventory["platform_health_checks"]
    assert {c["name"] for c in checks} >= {"frontend", "backend-version"}
    for check in checks:
        component = check["url"].split("platform_public_urls.")[1].split()[0]
        assert component in urls, check
    # The version check proves the new release answers, not just some release.
    assert any(c.get("json_equals") == "{{ platform_version }}" for c in checks)
