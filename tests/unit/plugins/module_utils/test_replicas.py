"""Who owns spec.replicas of an autoscaled Deployment (plugins/module_utils/replicas.py)."""

from ansible_collections.intelligent_agent.platform.plugins.module_utils.replicas import (
    hpa_replica_plan,
    owns_replicas,
    replica_owners,
)

MANAGER = "intelligent-agent-platform"


def deployment(name, replicas, managers):
    """A live Deployment whose managedFields list (manager, operation, owns replicas)."""
    fields = [
        {
            "manager": manager,
            "operation": operation,
            "fieldsV1": {"f:spec": ({"f:replicas": {}} if owns else {}) | {"f:template": {}}},
        }
        for manager, operation, owns in managers
    ]
    return {"metadata": {"name": name, "managedFields": fields}, "spec": {"replicas": replicas}}


def test_the_deploy_owns_replicas_only_through_its_own_apply():
    assert owns_replicas(deployment("a", 3, [(MANAGER, "Apply", True)]), MANAGER)
    assert not owns_replicas(deployment("a", 3, [(MANAGER, "Apply", False)]), MANAGER)
    # The HPA's scale updates and another applier do not make the deploy an owner.
    assert not owns_replicas(deployment("a", 3, [("kube-controller-manager", "Update", True)]), MANAGER)
    assert not owns_replicas(deployment("a", 3, [("handover", "Apply", True)]), MANAGER)
    assert not owns_replicas({"metadata": {}}, MANAGER)


def test_an_owned_count_is_handed_over_with_its_live_value():
    live = [
        deployment("backend", 7, [(MANAGER, "Apply", True), ("kube-controller-manager", "Update", False)]),
        deployment("frontend", 4, [(MANAGER, "Apply", False), ("handover", "Apply", True)]),
    ]
    plan = hpa_replica_plan(live, ["frontend", "backend"], MANAGER)
    assert plan == {"leave_to_hpa": ["backend", "frontend"], "handover": [{"name": "backend", "replicas": 7}]}


def test_deployments_without_hpa_or_not_yet_created_keep_their_rendered_count():
    live = [deployment("worker", 2, [(MANAGER, "Apply", True)])]
    # worker has no HPA; backend does not exist yet: both keep spec.replicas in their manifests.
    assert hpa_replica_plan(live, ["backend"], MANAGER) == {"leave_to_hpa": [], "handover": []}
    assert hpa_replica_plan([], ["backend"], MANAGER) == {"leave_to_hpa": [], "handover": []}


def test_the_plan_from_replica_owners_is_the_plan_from_the_live_deployments():
    live = [
        deployment("frontend", 4, [(MANAGER, "Apply", True)]),
        deployment("backend", 6, [("handover", "Apply", True), ("kube-controller-manager", "Update", True)]),
        deployment("worker", 2, [(MANAGER, "Apply", True)]),
    ]
    owners = replica_owners(live)
    assert owners["frontend"] == {"replicas": 4, "appliers": [MANAGER]}
    assert owners["backend"] == {"replicas": 6, "appliers": ["handover"]}
    wanted = ["frontend", "backend"]
    assert hpa_replica_plan(owners, wanted, MANAGER) == hpa_replica_plan(live, wanted, MANAGER)
    assert hpa_replica_plan(owners, wanted, MANAGER) == {
        "leave_to_hpa": ["backend", "frontend"],
        "handover": [{"name": "frontend", "replicas": 4}],
    }
