"""Wrong inputs fail in the roles' pre-flight (argument specs and checks), naming the field or key and never a
secret value. No cluster: the kubeconfig points nowhere, so reaching any Kubernetes task would fail differently.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from roles_helpers import FAKE_SECRETS, PLAYBOOKS, ROOT, run_playbook

NOWHERE = {
    "platform_kubeconfig": "/nonexistent/kubeconfig",
    "platform_version": "1.2.3",
}


def app_defaults():
    return yaml.safe_load((ROOT / "roles" / "app" / "defaults" / "main.yml").read_text())["app_components"]


def run(inventory, extra):
    proc = run_playbook(PLAYBOOKS / "platform.yml", inventory, {**NOWHERE, **extra}, [FAKE_SECRETS])
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    # Nothing reached the cluster: the run stopped before the namespace role.
    assert "Apply the namespace objects server-side" not in output, output[-3000:]
    return output


def with_backend(**changes):
    components = app_defaults()
    backend = next(c for c in components if c["name"] == "backend")
    backend.update(changes)
    return components


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"app_components": with_backend(replicas="three")}, "replicas"),
        ({"app_components": with_backend(replica_count=3)}, "replica_count"),
        ({"app_components": with_backend(container_port=-5000)}, "container_port"),
        ({"app_component_overrides": {"backend": {"replicas": "three"}}}, "replicas"),
        (
            {"app_component_overrides": {"backend": {"autoscaling": {"min_replicass": 2}}}},
            "min_replicass",
        ),
        (
            {"app_component_overrides": {"backend": {"service": {"port": 70000}}}},
            "service.port",
        ),
        ({"app_component_overrides": {"worker": {"replicas": 1}}}, "worker"),
    ],
    ids=[
        "replicas-not-int",
        "unknown-field",
        "negative-port",
        "override-type",
        "nested-unknown-field",
        "port-out-of-range",
        "override-unknown-component",
    ],
)
def test_wrong_component_input_fails_naming_the_field(extra, field):
    output = run("production", extra)
    assert field in output, output[-3000:]


def test_production_refuses_a_change_me_secret_naming_only_the_key():
    values = yaml.safe_load(FAKE_SECRETS.read_text())["secrets_values"]
    values = copy.deepcopy(values)
    values["STRIPE_WEBHOOK_SECRET"] = "CHANGE_ME"
    output = run("production", {"secrets_values": values})
    assert "STRIPE_WEBHOOK_SECRET (placeholder)" in output
    assert "Refusing to apply secrets" in output
    # Only that key is named, and no value at all appears in the output.
    assert "JWT_SECRET" not in output
    for key, value in values.items():
        if len(value) >= 6 and key != "STRIPE_WEBHOOK_SECRET":
            assert value not in output, f"value of {key} leaked"


def test_production_refuses_badly_formatted_values_naming_the_rule():
    values = copy.deepcopy(yaml.safe_load(FAKE_SECRETS.read_text())["secrets_values"])
    values["ENCRYPTION_KEY"] = "0123456789abcdef0123"
    values["DATABASE_PASSWORD"] = ""
    output = run("production", {"secrets_values": values})
    assert "ENCRYPTION_KEY (format: 32 bytes as 64 hex characters)" in output
    assert "DATABASE_PASSWORD (missing or empty)" in output
    assert "0123456789abcdef0123" not in output


def test_production_with_the_example_vault_refuses_every_key():
    example = yaml.safe_load(
        (ROOT / "inventories" / "production" / "group_vars" / "all" / "vault.yml.example").read_text()
    )
    output = run("production", example)
    assert "32 key(s) are empty, placeholders or badly formatted" in output
    assert "secrets_registry.password (placeholder)" in output
