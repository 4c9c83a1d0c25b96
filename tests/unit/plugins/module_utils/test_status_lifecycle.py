"""plugins/module_utils/lifecycle.py: what render.yml writes (no Secret value unless vault) and what
uninstall.yml deletes (only the collection's own objects, history and namespace kept unless asked)."""

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.intelligent_agent.platform.plugins.filter.lifecycle import FilterModule
from ansible_collections.intelligent_agent.platform.plugins.module_utils import lifecycle as lc

OURS = {"app.kubernetes.io/part-of": "ia", "app.kubernetes.io/managed-by": "intelligent_agent.platform"}
NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=timezone.utc)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def obj(kind, name, labels=None, api_version="v1", **extra):
    metadata = {"name": name, "namespace": "ns", "labels": OURS if labels is None else labels}
    metadata.update(extra)
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


SECRET = dict(
    obj("Secret", "ia-secrets-0123456789"),
    type="Opaque",
    immutable=True,
    data={"JWT_SECRET": b64("s3cr3t-jwt-value-xyz"), "DB_PASSWORD": b64("hunter2-password")},
)
REGISTRY = dict(
    obj("Secret", "ia-registry"),
    type="kubernetes.io/dockerconfigjson",
    data={
        ".dockerconfigjson": b64(
            json.dumps(
                {
                    "auths": {
                        "registry.example.com": {
                            "username": "bot",
                            "password": "reg-pass-123",
                            "auth": b64("bot:reg-pass-123"),
                        }
                    }
                }
            )
        )
    },
)
MANIFESTS = [
    obj("Namespace", "ns"),
    SECRET,
    REGISTRY,
    obj("ConfigMap", "ia-config-abc"),
    obj("Deployment", "backend", api_version="apps/v1"),
]
VALUES = ("s3cr3t-jwt-value-xyz", "hunter2-password", "reg-pass-123")


def no_value_in(data):
    text = json.dumps(data)
    decoded = text
    for doc in data if isinstance(data, list) else [data]:
        for value in ((doc.get("object") or doc).get("data") or {}).values():
            decoded += base64.b64decode(value).decode()
    return not any(v in decoded or b64(v) in text for v in VALUES)


def test_redact_keeps_the_secrets_shape_but_no_value():
    result = lc.render_documents(MANIFESTS, "redact")
    assert [d["file"] for d in result["documents"]] == [
        "001-namespace-ns.yaml",
        "002-secret-ia-secrets-0123456789.yaml",
        "003-secret-ia-registry.yaml",
        "004-configmap-ia-config-abc.yaml",
        "005-deployment-backend.yaml",
    ]
    secret, registry = result["documents"][1]["object"], result["documents"][2]["object"]
    assert set(secret["data"]) == {"JWT_SECRET", "DB_PASSWORD"}
    assert {base64.b64decode(v).decode() for v in secret["data"].values()} == {"REDACTED"}
    assert secret["metadata"]["annotations"] == {lc.REDACTED_ANNOTATION: "true"}
    assert secret["immutable"] is True and secret["metadata"]["name"] == "ia-secrets-0123456789"
    config = json.loads(base64.b64decode(registry["data"][".dockerconfigjson"]))
    assert config == {"auths": {"registry.example.com": {"auth": b64("REDACTED")}}}  # still valid, no credential
    assert no_value_in(result["documents"])
    assert result["secrets"] == [] and result["omitted"] == []
    # The input is not modified (the roles' facts keep their values).
    assert base64.b64decode(SECRET["data"]["JWT_SECRET"]).decode() == "s3cr3t-jwt-value-xyz"


def test_omit_leaves_secrets_out_and_names_them():
    result = lc.render_documents(MANIFESTS, "omit")
    assert [d["object"]["kind"] for d in result["documents"]] == ["Namespace", "ConfigMap", "Deployment"]
    assert result["omitted"] == ["Secret/ia-secrets-0123456789", "Secret/ia-registry"]
    assert result["secrets"] == [] and no_value_in(result["documents"])


def test_vault_sets_the_secrets_apart_for_encryption():
    result = lc.render_documents(MANIFESTS, "vault")
    assert [d["object"]["kind"] for d in result["documents"]] == ["Namespace", "ConfigMap", "Deployment"]
    assert no_value_in(result["documents"])
    assert result["secrets"] == [SECRET, REGISTRY]


@pytest.mark.parametrize(
    "manifests, mode, fragment",
    [
        (MANIFESTS, "plain", "render_secrets: 'plain' is not one of redact, omit, vault"),
        ("nope", "redact", "manifests: expected the list"),
        ([{"metadata": {}}], "redact", "manifests: every item must be a Kubernetes object with a kind"),
    ],
)
def test_render_refuses_bad_input(manifests, mode, fragment):
    with pytest.raises(lc.LifecycleError, match=fragment):
        lc.render_documents(manifests, mode)
    with pytest.raises(AnsibleFilterError, match="render_documents: "):
        FilterModule().filters()["render_documents"](manifests, mode)


def listing(kind, *resources, api_version="v1"):
    return {"item": {"api_version": api_version, "kind": kind}, "resources": list(resources), "failed": False}


def failed(kind, msg):
    return {"item": {"api_version": "x/v1", "kind": kind}, "failed": True, "msg": msg}


HISTORY = "ConfigMap/ia-release-history"
LISTINGS = [
    listing("Deployment", obj("Deployment", "backend", api_version="apps/v1"), api_version="apps/v1"),
    listing(
        "ConfigMap",
        obj("ConfigMap", "ia-release-history"),
        obj("ConfigMap", "ia-config-abc"),
        obj("ConfigMap", "someone-elses", labels={"app.kubernetes.io/part-of": "ia"}),
        obj("ConfigMap", "other-platform", labels=dict(OURS, **{"app.kubernetes.io/part-of": "other"})),
        obj("ConfigMap", "owned", ownerReferences=[{"kind": "Deployment", "name": "x"}]),
    ),
    listing("Role", obj("Role", "ia-deployer", api_version="rbac.authorization.k8s.io/v1")),
    listing("Service", obj("Service", "frontend"), obj("Service", "backend")),
    failed("VerticalPodAutoscaler", "Failed to find exact match for autoscaling.k8s.io/v1.VerticalPodAutoscaler"),
    failed("ResourceQuota", 'resourcequotas is forbidden: User "deployer" cannot list resource (403)'),
]


def names(refs):
    return [lc.object_name(r) for r in refs]


def test_uninstall_deletes_only_the_collections_own_objects_workloads_first_rbac_last():
    plan = lc.uninstall_plan(LISTINGS, "ia", keep=[HISTORY], now=NOW)
    assert names(plan["delete"]) == [
        "Deployment/backend",
        "Service/backend",
        "Service/frontend",
        "ConfigMap/ia-config-abc",
        "Role/ia-deployer",
    ]
    assert plan["delete"][0] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "backend", "namespace": "ns"},
    }
    assert names(plan["kept"]) == [HISTORY]
    assert plan["absent_apis"] == ["VerticalPodAutoscaler"]
    assert [n["kind"] for n in plan["not_listed"]] == ["ResourceQuota"]
    assert "forbidden" in plan["not_listed"][0]["reason"]
    assert plan["lock_holder"] is None


def test_the_objects_recorded_with_the_history_are_kept_with_it_by_pattern():
    recorded = obj("ConfigMap", "ia-release-history-objects-0a1b2c3d4e")
    listings = [
        listing("ConfigMap", obj("ConfigMap", "ia-release-history"), recorded, obj("ConfigMap", "ia-config-abc"))
    ]
    plan = lc.uninstall_plan(listings, "ia", keep=[HISTORY, HISTORY + "-objects-*"], now=NOW)
    assert names(plan["kept"]) == [HISTORY, HISTORY + "-objects-0a1b2c3d4e"]
    assert names(plan["delete"]) == ["ConfigMap/ia-config-abc"]


def test_uninstall_history_deletes_the_history_too():
    plan = lc.uninstall_plan(LISTINGS, "ia", keep=[], now=NOW)
    assert HISTORY in names(plan["delete"]) and plan["kept"] == []


@pytest.mark.parametrize(
    "labels, delete_namespace, deleted, reason",
    [
        (OURS, False, False, "uninstall_namespace=true deletes it"),
        (OURS, True, True, None),
        ({"kubernetes.io/metadata.name": "ns"}, True, False, "not created by intelligent_agent.platform"),
    ],
)
def test_the_namespace_goes_last_only_when_asked_and_ours(labels, delete_namespace, deleted, reason):
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns", "labels": labels}}
    plan = lc.uninstall_plan(LISTINGS, "ia", [HISTORY], namespace, delete_namespace, now=NOW)
    if deleted:
        assert names(plan["delete"])[-1] == "Namespace/ns"
    else:
        assert "Namespace/ns" not in names(plan["delete"])
        assert any(k["kind"] == "Namespace" and reason in k["reason"] for k in plan["kept"])


def lease(holder, renewed, duration=1800):
    return dict(
        obj("Lease", "ia-deploy-lock", api_version="coordination.k8s.io/v1"),
        spec={
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    )


@pytest.mark.parametrize(
    "the_lease, holder",
    [
        (lease("run-42", NOW - timedelta(seconds=60)), "run-42"),
        (lease("run-42", NOW - timedelta(seconds=3600)), None),  # expired
        (lease(None, NOW), None),  # freed
    ],
)
def test_a_held_deploy_lock_is_reported(the_lease, holder):
    plan = lc.uninstall_plan([listing("Lease", the_lease, api_version="coordination.k8s.io/v1")], "ia", now=NOW)
    assert plan["lock_holder"] == holder
    assert names(plan["delete"]) == ["Lease/ia-deploy-lock"]


def test_uninstall_refuses_an_empty_platform_name():
    with pytest.raises(lc.LifecycleError, match="platform_name"):
        lc.uninstall_plan(LISTINGS, "")
    with pytest.raises(AnsibleFilterError, match="uninstall_plan: platform_name"):
        FilterModule().filters()["uninstall_plan"](LISTINGS, "")


def test_the_filter_uses_the_current_time_for_the_lock():
    recent = lease("run-7", datetime.now(timezone.utc) - timedelta(seconds=5))
    plan = FilterModule().filters()["uninstall_plan"](
        [listing("Lease", recent, api_version="coordination.k8s.io/v1")], "ia", [], None, False
    )
    assert plan["lock_holder"] == "run-7"


def test_the_deploy_lock_is_deleted_by_name_without_part_of_but_only_when_managed_by_the_collection():
    lock_labels = {
        "app.kubernetes.io/managed-by": "intelligent_agent.platform",
        "app.kubernetes.io/component": "deploy-lock",
    }
    lock = obj("Lease", "ia-deploy-lock", labels=lock_labels, api_version="coordination.k8s.io/v1")
    by_label = listing("Lease", lease(None, NOW), api_version="coordination.k8s.io/v1")  # same Lease, listed twice
    by_name = {"item": {"api_version": "coordination.k8s.io/v1", "kind": "Lease"}, "resources": [lock]}
    plan = lc.uninstall_plan([by_label, by_name], "ia", named=["Lease/ia-deploy-lock"], now=NOW)
    assert names(plan["delete"]) == ["Lease/ia-deploy-lock"]
    # Without the name, part-of is required; with another manager, never.
    assert lc.uninstall_plan([by_name], "ia", now=NOW)["delete"] == []
    foreign = obj("Lease", "ia-deploy-lock", labels={"app.kubernetes.io/managed-by": "helm"})
    plan = lc.uninstall_plan(
        [{"item": {"kind": "Lease"}, "resources": [foreign]}], "ia", named=["Lease/ia-deploy-lock"]
    )
    assert plan["delete"] == []


def test_a_listing_failure_is_summarised_without_the_clients_headers():
    message = "Exception '403\nReason: Forbidden\nHTTP response headers: HTTPHeaderDict({'Audit-Id': 'x'})"
    plan = lc.uninstall_plan([failed("Role", message), failed("Service", "boom " * 50)], "ia")
    assert plan["not_listed"][0] == {"kind": "Role", "reason": "forbidden (403)"}
    assert plan["not_listed"][1]["reason"].endswith("...") and len(plan["not_listed"][1]["reason"]) == 160
