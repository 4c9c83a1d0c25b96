"""plugins/module_utils/status.py (playbooks/status.yml): health, version, digest and HPA per component,
on API objects shaped as k8s_info returns them."""

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.intelligent_agent.platform.plugins.filter.platform import FilterModule
from ansible_collections.intelligent_agent.platform.plugins.module_utils import status as s

DIGEST = "sha256:" + "a" * 64
OLD_DIGEST = "sha256:" + "b" * 64
REPO = "127.0.0.1:5000/intelligent-agent/backend"
PART_OF = {"app.kubernetes.io/part-of": "intelligent-agent"}


def deployment(
    name="backend",
    version="1.2.0",
    image=REPO + "@" + DIGEST,
    replicas=2,
    ready=2,
    updated=2,
    available=2,
    status_replicas=None,
    generation=3,
    observed=3,
    available_status="True",
    progressing_reason="NewReplicaSetAvailable",
):
    labels = dict(PART_OF, **{"app.kubernetes.io/name": name, "app.kubernetes.io/version": version})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "generation": generation,
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/revision": "4"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(PART_OF, **{"app.kubernetes.io/name": name})},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": image}]}},
        },
        "status": {
            "observedGeneration": observed,
            "replicas": replicas if status_replicas is None else status_replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": [
                {
                    "type": "Available",
                    "status": available_status,
                    "message": "Deployment has minimum availability."
                    if available_status == "True"
                    else "Deployment does not have minimum availability.",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": progressing_reason,
                    "message": 'ReplicaSet "%s-abc" has successfully progressed.' % name,
                },
            ],
        },
    }


def pod(
    name,
    component="backend",
    ready=True,
    image_id=REPO + "@" + DIGEST,
    waiting=None,
    message="",
    unschedulable=False,
    phase="Running",
    deleting=False,
):
    state = {"waiting": {"reason": waiting, "message": message}} if waiting else {"running": {}}
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(PART_OF, **{"app.kubernetes.io/name": component})},
        "spec": {"containers": [{"name": component, "image": REPO + "@" + DIGEST}]},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": component,
                    "restartCount": 3 if waiting else 0,
                    "state": state,
                    "imageID": image_id if not waiting else "",
                }
            ],
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"},
                {
                    "type": "PodScheduled",
                    "status": "False" if unschedulable else "True",
                    "reason": "Unschedulable" if unschedulable else None,
                    "message": "0/4 nodes are available: insufficient cpu",
                },
            ],
        },
    }
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-12-03T10:00:00Z"
    return obj


def hpa(target="backend", current=2, desired=2, minimum=2, maximum=3, scaling_active=True):
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": minimum,
            "maxReplicas": maximum,
        },
        "status": {
            "currentReplicas": current,
            "desiredReplicas": desired,
            "conditions": [
                {
                    "type": "ScalingActive",
                    "status": "True" if scaling_active else "False",
                    "reason": "ValidMetricFound" if scaling_active else "FailedGetResourceMetric",
                    "message": "unable to get metrics for resource cpu",
                }
            ],
        },
    }


HISTORY = [
    {"id": 1, "kind": "deploy", "version": "1.1.0", "result": "succeeded", "who": "ci", "finished": "t1"},
    {
        "id": 2,
        "kind": "deploy",
        "version": "1.2.0",
        "commit": "abc123",
        "result": "succeeded",
        "who": "ci",
        "finished": "2026-12-03T10:00:00Z",
    },
]


def test_a_healthy_platform_reports_version_digest_replicas_hpa_and_the_last_release():
    result = s.platform_status(
        [deployment("frontend", image="127.0.0.1:5000/intelligent-agent/frontend@" + OLD_DIGEST), deployment()],
        [
            pod("backend-1"),
            pod("backend-2"),
            pod("frontend-1", "frontend", image_id="127.0.0.1:5000/intelligent-agent/frontend@" + OLD_DIGEST),
        ],
        [hpa()],
        HISTORY,
        name="intelligent-agent",
        namespace="prod",
    )
    assert result["healthy"] is True
    assert result["unhealthy"] == [] and result["progressing"] == []
    backend, frontend = result["components"][0], result["components"][1]
    assert [backend["name"], frontend["name"]] == ["backend", "frontend"]  # sorted by name
    assert backend["version"] == "1.2.0"
    assert backend["digest"] == DIGEST and backend["running_digests"] == [DIGEST]
    assert (backend["ready"], backend["desired"], backend["state"]) == (2, 2, "healthy")
    assert backend["hpa"] == {"name": "backend", "current": 2, "desired": 2, "min": 2, "max": 3, "note": None}
    assert frontend["hpa"] is None and frontend["digest"] == OLD_DIGEST
    assert result["release"]["id"] == 2  # the newest record: the last one
    text = result["text"]
    assert text.splitlines()[0] == "Platform intelligent-agent in prod: 2 component(s), all healthy"
    assert "backend   1.2.0     aaaaaaaaaaaa  2/2 ready  healthy  HPA 2 (min 2, max 3)" in text
    assert "Last release: #2 deploy 1.2.0 (commit abc123): succeeded by ci, finished 2026-12-03T10:00:00Z" in text


def test_the_digest_comes_from_the_running_pods_when_the_image_is_a_tag():
    result = s.platform_status([deployment(image=REPO + ":1.2.0")], [pod("backend-1"), pod("backend-2")])
    assert result["components"][0]["digest"] == DIGEST
    # Two digests running at once (a rollout): none is "the" digest, both are listed.
    result = s.platform_status(
        [deployment(image=REPO + ":1.2.0")], [pod("backend-1"), pod("backend-2", image_id=REPO + "@" + OLD_DIGEST)]
    )
    component = result["components"][0]
    assert component["digest"] is None and component["running_digests"] == [DIGEST, OLD_DIGEST]
    assert "running digests aaaaaaaaaaaa, bbbbbbbbbbbb" in result["text"]


@pytest.mark.parametrize(
    "pods, fragments",
    [
        (
            [
                pod("backend-1"),
                pod(
                    "backend-2",
                    ready=False,
                    waiting="CrashLoopBackOff",
                    message="back-off 40s restarting failed container",
                ),
            ],
            ["pod backend-2 container backend: CrashLoopBackOff (back-off 40s restarting failed container)"],
        ),
        (
            [pod("backend-1"), pod("backend-2", ready=False, waiting="ImagePullBackOff", message="not found")],
            ["pod backend-2 container backend: ImagePullBackOff (not found)"],
        ),
    ],
)
def test_a_failing_pod_makes_its_component_unhealthy_naming_pod_and_reason(pods, fragments):
    result = s.platform_status([deployment(ready=1, available=1)], pods)
    component = result["components"][0]
    assert component["state"] == "unhealthy" and result["healthy"] is False
    assert result["unhealthy"] == ["backend"]
    assert component["failing_pods"][0]["pod"] == "backend-2"
    for fragment in fragments:
        assert fragment in component["problems"]
        assert fragment in result["text"]
    assert "UNHEALTHY: backend" in result["text"].splitlines()[0]


def test_a_deployment_without_minimum_availability_is_unhealthy():
    result = s.platform_status([deployment(ready=0, available=0, available_status="False")], [])
    component = result["components"][0]
    assert component["state"] == "unhealthy"
    assert component["problems"] == ["not Available: Deployment does not have minimum availability."]


def test_an_exceeded_progress_deadline_is_unhealthy():
    result = s.platform_status(
        [deployment(updated=1, progressing_reason="ProgressDeadlineExceeded")], [pod("backend-1"), pod("backend-2")]
    )
    assert result["components"][0]["state"] == "unhealthy"
    assert "rollout failed (ProgressDeadlineExceeded)" in result["components"][0]["problems"][0]


def test_a_rollout_in_progress_without_failure_is_progressing_not_unhealthy():
    result = s.platform_status(
        [deployment(updated=1, status_replicas=3, generation=4, observed=4)], [pod("backend-1"), pod("backend-2")]
    )
    component = result["components"][0]
    assert component["state"] == "progressing" and result["unhealthy"] == []
    assert result["progressing"] == ["backend"] and result["healthy"] is False
    assert component["progress"] == ["rollout in progress: 1 out of 2 new replicas have been updated"]
    # A spec change not yet seen by the controller is in progress too.
    result = s.platform_status([deployment(generation=5, observed=4)], [pod("backend-1"), pod("backend-2")])
    assert result["components"][0]["state"] == "progressing"


def test_an_unschedulable_pod_is_named_as_waiting():
    result = s.platform_status(
        [deployment(ready=1, available=1)],
        [pod("backend-1"), pod("backend-2", ready=False, unschedulable=True, phase="Pending")],
    )
    component = result["components"][0]
    assert component["state"] == "progressing"
    assert "pod backend-2 waits: Unschedulable: 0/4 nodes are available: insufficient cpu" in component["progress"]


def test_pods_of_other_components_terminating_or_finished_pods_do_not_count():
    crashing = dict(ready=False, waiting="CrashLoopBackOff")
    result = s.platform_status(
        [deployment()],
        [
            pod("backend-1"),
            pod("backend-2"),
            pod("frontend-1", "frontend", **crashing),  # another component's pod
            pod("backend-old", deleting=True, **crashing),  # terminating
            pod("backend-job", phase="Failed", **crashing),  # finished
        ],
    )
    assert result["components"][0]["state"] == "healthy", result["components"][0]["problems"]


def test_hpa_that_cannot_read_metrics_is_noted_without_making_the_component_unhealthy():
    result = s.platform_status([deployment()], [pod("backend-1"), pod("backend-2")], [hpa(scaling_active=False)])
    component = result["components"][0]
    assert component["healthy"] is True
    assert component["hpa"]["note"] == "FailedGetResourceMetric: unable to get metrics for resource cpu"
    assert "HPA FailedGetResourceMetric" in result["text"]


def test_an_hpa_the_controller_has_not_reported_on_yet_shows_no_count():
    fresh = hpa()
    del fresh["status"]
    result = s.platform_status([deployment()], [pod("backend-1"), pod("backend-2")], [fresh])
    assert result["components"][0]["hpa"]["current"] is None
    assert "HPA - (min 2, max 3)" in result["text"]


def test_a_deployment_scaled_to_zero_is_healthy():
    result = s.platform_status([deployment(replicas=0, ready=0, updated=0, available=0, available_status="False")], [])
    assert result["components"][0]["state"] == "healthy"


def test_nothing_deployed_and_no_history():
    result = s.platform_status([], [], [], None, name="ia", namespace="ns")
    assert result["healthy"] is True and result["components"] == [] and result["release"] is None
    assert result["text"] == "Platform ia in ns: no Deployment of the platform runs here\nLast release: none recorded"


def test_history_is_accepted_as_the_configmap_json_text():
    assert s.platform_status([], history=json.dumps(HISTORY))["release"]["version"] == "1.2.0"
    assert s.platform_status([], history="")["release"] is None


@pytest.mark.parametrize(
    "selector, labels, expected",
    [
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True),
        ({}, {"a": "1"}, False),  # an empty selector selects nothing here (never every pod of the namespace)
    ],
)
def test_selector_matching(selector, labels, expected):
    assert s.selects(selector, labels) is expected


@pytest.mark.parametrize(
    "reference, digest",
    [
        (REPO + "@" + DIGEST, DIGEST),
        ("docker-pullable://" + REPO + "@" + DIGEST, DIGEST),
        (REPO + ":1.2.0", None),
        ("", None),
        (None, None),
    ],
)
def test_image_digest(reference, digest):
    assert s.image_digest(reference) == digest


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("nope",), "deployments: expected a list"),
        (([], "nope"), "pods: expected a list"),
    ],
)
def test_bad_inputs_name_the_argument(args, fragment):
    with pytest.raises(s.StatusError, match=fragment):
        s.platform_status(*args)
    with pytest.raises(AnsibleFilterError, match="platform_status: " + fragment):
        FilterModule().filters()["platform_status"](*args)


def test_a_damaged_history_is_reported_and_what_runs_is_shown_all_the_same():
    broken = s.platform_status([], history="{not json")
    assert broken["release"] is None
    assert broken["history_problems"] and "not valid JSON" in broken["history_problems"][0]
    assert "History damaged: releases.json is not valid JSON" in broken["text"]
    mixed = s.platform_status([], history=json.dumps(["junk", HISTORY[-1]]))
    assert mixed["release"]["version"] == HISTORY[-1]["version"]
    assert mixed["history_problems"] == ["record 1 of releases.json is a str, not an object: left out"]
    odd = s.platform_status([], history={"a": 1})
    assert odd["release"] is None and "not a dict" in odd["history_problems"][0]
