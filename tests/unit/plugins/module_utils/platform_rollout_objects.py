"""Hand-built Kubernetes API objects (camelCase dicts) for the rollout unit tests."""

from ansible_collections.intelligent_agent.platform.plugins.module_utils import rollout as r

IMAGE = "127.0.0.1:5000/ia/backend:9.9.9"


def deployment(
    generation=2,
    observed=2,
    replicas=3,
    status_replicas=3,
    updated=3,
    available=3,
    paused=False,
    progressing_reason="NewReplicaSetAvailable",
    revision="2",
    name="backend",
):
    dep = {
        "metadata": {
            "name": name,
            "uid": "dep-uid",
            "generation": generation,
            "annotations": {r.DEPLOYMENT_REVISION_ANNOTATION: revision},
        },
        "spec": {
            "replicas": replicas,
            "paused": paused,
            "template": {"spec": {"containers": [{"name": "app", "image": IMAGE}]}},
        },
        "status": {
            "observedGeneration": observed,
            "replicas": status_replicas,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "readyReplicas": available,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": progressing_reason,
                    "message": 'ReplicaSet "backend-abc" has timed out progressing.',
                }
            ],
        },
    }
    if observed is None:
        del dep["status"]["observedGeneration"]
    return dep


def replicaset(uid, revision, template_hash, owner="dep-uid"):
    return {
        "metadata": {
            "name": "backend-" + template_hash,
            "uid": uid,
            "labels": {"pod-template-hash": template_hash},
            "annotations": {r.DEPLOYMENT_REVISION_ANNOTATION: revision},
            "ownerReferences": [{"controller": True, "uid": owner, "kind": "Deployment"}],
        }
    }


def pod(
    name,
    owner_uid,
    labels=None,
    waiting=None,
    message="",
    restarts=0,
    ready=False,
    last_exit=None,
    scheduled=True,
    deleting=False,
    init_waiting=None,
):
    status = {"name": "app", "restartCount": restarts, "state": {}}
    if waiting:
        status["state"]["waiting"] = {"reason": waiting, "message": message}
    else:
        status["state"]["running"] = {"startedAt": "2026-01-01T00:00:00Z"}
    if last_exit is not None:
        status["lastState"] = {"terminated": {"exitCode": last_exit, "reason": "Error"}}
    obj = {
        "metadata": {
            "name": name,
            "uid": name + "-uid",
            "labels": labels or {},
            "ownerReferences": [{"controller": True, "uid": owner_uid}],
        },
        "spec": {
            "containers": [{"name": "app", "image": IMAGE}],
            "initContainers": [{"name": "init", "image": "busybox:1"}],
        },
        "status": {
            "containerStatuses": [status],
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"},
                {
                    "type": "PodScheduled",
                    "status": "True" if scheduled else "False",
                    "reason": None if scheduled else "Unschedulable",
                    "message": "0/3 nodes are available",
                },
            ],
        },
    }
    if init_waiting:
        obj["status"]["initContainerStatuses"] = [
            {"name": "init", "restartCount": 0, "state": {"waiting": {"reason": init_waiting}}}
        ]
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return obj
