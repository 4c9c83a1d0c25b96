"""Every predicate and failure class of plugins/module_utils/rollout.py, on hand-built API objects."""

import copy

import pytest

from ansible_collections.intelligent_agent.platform.plugins.module_utils import rollout as r

from platform_rollout_objects import IMAGE, deployment, pod, replicaset  # pylint: disable=import-error

# ---- Deployment predicate (kubectl rollout status order) ----


@pytest.mark.parametrize(
    "kwargs, done, fragment, failure",
    [
        ({}, True, "successfully rolled out", None),
        ({"observed": 1}, False, "spec update to be observed", None),  # generation not yet observed
        ({"observed": None}, False, "spec update to be observed", None),
        ({"updated": 1, "available": 1}, False, "1 out of 3 new replicas have been updated", None),
        ({"status_replicas": 4}, False, "1 old replicas are pending termination", None),
        ({"available": 2}, False, "2 of 3 updated replicas are available", None),
        (
            {"progressing_reason": "ProgressDeadlineExceeded", "available": 0},
            False,
            "timed out",
            r.PROGRESS_DEADLINE_REASON,
        ),
        ({"replicas": 0, "status_replicas": 0, "updated": 0, "available": 0}, True, "successfully", None),  # replicas 0
        ({"replicas": 0, "status_replicas": 1, "updated": 0, "available": 0}, False, "old replicas", None),
        ({"paused": True, "updated": 0, "available": 0}, False, "paused", r.PAUSED_REASON),
        ({"paused": True}, True, "successfully", None),  # paused but already complete
        ({"paused": True, "observed": 1}, False, "spec update to be observed", None),
    ],
)
def test_deployment_status(kwargs, done, fragment, failure):
    status = r.deployment_status(deployment(**kwargs))
    assert status.done is done
    assert fragment in status.message
    assert status.failure_reason == failure
    assert status.failed is (failure is not None)


def test_progress_deadline_ignored_until_generation_observed():
    status = r.deployment_status(deployment(observed=1, progressing_reason="ProgressDeadlineExceeded"))
    assert not status.failed and not status.done


# ---- StatefulSet and DaemonSet predicates ----


def statefulset(
    generation=1,
    observed=1,
    replicas=3,
    ready=3,
    updated=3,
    partition=None,
    rolling=True,
    strategy="RollingUpdate",
    current="web-1",
    update="web-1",
):
    sts = {
        "metadata": {"name": "web", "uid": "sts-uid", "generation": generation},
        "spec": {"replicas": replicas, "updateStrategy": {"type": strategy}},
        "status": {
            "observedGeneration": observed,
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "currentRevision": current,
            "updateRevision": update,
        },
    }
    if rolling:
        sts["spec"]["updateStrategy"]["rollingUpdate"] = {} if partition is None else {"partition": partition}
    return sts


@pytest.mark.parametrize(
    "kwargs, done, failure",
    [
        ({}, True, None),
        ({"observed": 0}, False, None),
        ({"generation": 2}, False, None),
        ({"ready": 2}, False, None),
        ({"partition": 2, "updated": 0}, False, None),
        ({"partition": 2, "updated": 1}, True, None),
        ({"rolling": False, "current": "web-1", "update": "web-2"}, False, None),
        ({"rolling": False}, True, None),
        ({"strategy": "OnDelete"}, False, r.UNSUPPORTED_STRATEGY_REASON),
        ({"replicas": 0, "ready": 0, "updated": 0}, True, None),
    ],
)
def test_statefulset_status(kwargs, done, failure):
    status = r.statefulset_status(statefulset(**kwargs))
    assert (status.done, status.failure_reason) == (done, failure)


def daemonset(generation=1, observed=1, desired=2, updated=2, available=2, strategy="RollingUpdate"):
    return {
        "metadata": {
            "name": "agent",
            "uid": "ds-uid",
            "generation": generation,
            "annotations": {r.DAEMONSET_GENERATION_ANNOTATION: str(generation)},
        },
        "spec": {"updateStrategy": {"type": strategy}},
        "status": {
            "observedGeneration": observed,
            "desiredNumberScheduled": desired,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "numberReady": available,
        },
    }


@pytest.mark.parametrize(
    "kwargs, done, failure",
    [
        ({}, True, None),
        ({"observed": 0}, False, None),
        ({"updated": 1}, False, None),
        ({"available": 1}, False, None),
        ({"strategy": "OnDelete"}, False, r.UNSUPPORTED_STRATEGY_REASON),
        ({"desired": 0, "updated": 0, "available": 0}, True, None),
    ],
)
def test_daemonset_status(kwargs, done, failure):
    status = r.daemonset_status(daemonset(**kwargs))
    assert (status.done, status.failure_reason) == (done, failure)


def test_replica_counts_treat_omitted_fields_as_zero():
    dep = deployment()
    dep["status"] = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3}
    assert r.replica_counts("Deployment", dep) == {"desired": 3, "updated": 3, "ready": 3, "available": 0}
    assert "0 of 3 updated replicas are available" in r.deployment_status(dep).message


def test_replica_counts_and_revision():
    assert r.replica_counts("Deployment", deployment(updated=2, available=1)) == {
        "desired": 3,
        "updated": 2,
        "ready": 1,
        "available": 1,
    }
    assert r.replica_counts("DaemonSet", daemonset(updated=1))["updated"] == 1
    assert r.workload_revision("Deployment", deployment(revision="7")) == "7"
    assert r.workload_revision("StatefulSet", statefulset(update="web-9")) == "web-9"
    assert r.workload_revision("DaemonSet", daemonset(generation=4)) == "4"
    assert r.rollout_status("StatefulSet", statefulset()).done


# ---- which pods count: only the new revision ----


def test_new_replicaset_pods_only():
    dep = deployment(revision="3")
    old_rs, new_rs = replicaset("rs-old", "2", "old"), replicaset("rs-new", "3", "new")
    foreign = replicaset("rs-foreign", "3", "new", owner="someone-else")
    pods = [
        pod("backend-old-1", "rs-old", {"pod-template-hash": "old"}),
        pod("backend-new-1", "rs-new", {"pod-template-hash": "new"}),
        pod("other-1", "rs-foreign", {"pod-template-hash": "new"}),
    ]
    assert r.new_replicaset(dep, [old_rs, foreign, new_rs]) is new_rs
    names = [p["metadata"]["name"] for p in r.new_revision_pods("Deployment", dep, pods, [old_rs, new_rs, foreign])]
    assert names == ["backend-new-1"]


def test_no_pods_count_before_generation_observed_or_without_new_rs():
    pods = [pod("backend-old-1", "rs-old", {"pod-template-hash": "old"}, waiting="CrashLoopBackOff")]
    rs = [replicaset("rs-old", "2", "old")]
    assert r.new_revision_pods("Deployment", deployment(revision="2", observed=1), pods, rs) == []
    assert r.new_revision_pods("Deployment", deployment(revision="3"), pods, rs) == []
    dep = deployment(revision="2")
    del dep["metadata"]["annotations"]
    assert r.new_replicaset(dep, rs) is None


def test_statefulset_and_daemonset_new_pods():
    sts = statefulset(update="web-2", current="web-1")
    pods = [
        pod("web-0", "sts-uid", {"controller-revision-hash": "web-1"}),
        pod("web-1", "sts-uid", {"controller-revision-hash": "web-2"}),
    ]
    assert [p["metadata"]["name"] for p in r.new_revision_pods("StatefulSet", sts, pods)] == ["web-1"]
    ds = daemonset(generation=3, observed=3)
    pods = [
        pod("agent-a", "ds-uid", {"pod-template-generation": "2"}),
        pod("agent-b", "ds-uid", {"pod-template-generation": "3"}),
    ]
    assert [p["metadata"]["name"] for p in r.new_revision_pods("DaemonSet", ds, pods)] == ["agent-b"]


# ---- failure classification ----


@pytest.mark.parametrize(
    "reason, klass",
    [
        ("ErrImagePull", "image"),
        ("ImagePullBackOff", "image"),
        ("InvalidImageName", "image"),
        ("CrashLoopBackOff", "CrashLoopBackOff"),
        ("CreateContainerConfigError", "CreateContainerConfigError"),
        ("CreateContainerError", "CreateContainerError"),
    ],
)
def test_each_waiting_reason_is_a_finding(reason, klass):
    findings = r.pod_findings(pod("p", "x", waiting=reason, message="boom"), restart_threshold=3)
    assert [(f["reason"], f["class"], f["container"], f["image"]) for f in findings] == [(reason, klass, "app", IMAGE)]


@pytest.mark.parametrize("reason", ["ContainerCreating", "PodInitializing"])
def test_normal_waiting_reasons_are_not_findings(reason):
    assert r.pod_findings(pod("p", "x", waiting=reason), restart_threshold=3) == []


def test_restart_threshold_and_last_exit():
    findings = r.pod_findings(pod("p", "x", restarts=4, last_exit=1), restart_threshold=3)
    assert findings[0]["reason"] == r.RESTARTS_REASON and "last exit code 1 (Error)" in findings[0]["message"]
    assert r.pod_findings(pod("p", "x", restarts=3), restart_threshold=3) == []
    crash = r.pod_findings(
        pod("p", "x", waiting="CrashLoopBackOff", message="back-off 10s", restarts=2, last_exit=2), restart_threshold=3
    )
    assert crash[0]["message"] == "back-off 10s; last exit code 2 (Error)"


def test_init_container_failure_is_a_finding():
    findings = r.pod_findings(pod("p", "x", init_waiting="CrashLoopBackOff"), restart_threshold=3)
    assert findings[0]["container"] == "init" and findings[0]["image"] == "busybox:1"


@pytest.mark.parametrize(
    "message, transient",
    [
        ('failed to pull image "x": rpc error: code = NotFound desc = 127.0.0.1:5000/x:9: not found', False),
        ("dial tcp 127.0.0.1:5000: connect: connection refused", True),
        ("received unexpected HTTP status: 503 Service Unavailable", True),
        ("net/http: TLS handshake timeout", True),
        ("toomanyrequests: You have reached your pull rate limit", True),
        ("pull access denied, repository does not exist or may require authorization", False),
        ("", False),
        (None, False),
    ],
)
def test_transient_pull_errors(message, transient):
    assert r.is_transient_pull_error(message) is transient


def test_grace_period_transient_image_pull_backoff_shorter_than_grace_is_forgotten():
    tracker = r.FailureTracker(grace=5, transient_grace=30)
    p = pod("p", "x", waiting="ImagePullBackOff", message="Back-off pulling image")
    findings = r.pod_findings(p, 3)
    tracker.observe("p-uid", findings, now=100.0)
    assert tracker.confirmed("p-uid", findings, now=103.0) == []
    tracker.observe("p-uid", [], now=104.0)  # pulled after all: running
    tracker.observe("p-uid", findings, now=106.0)  # new episode starts from scratch
    assert tracker.confirmed("p-uid", findings, now=110.0) == []
    confirmed = tracker.confirmed("p-uid", findings, now=111.0)
    assert confirmed[0]["reason"] == "ImagePullBackOff" and confirmed[0]["for_s"] == 5.0


def test_err_image_pull_and_backoff_alternating_count_as_one_episode():
    tracker = r.FailureTracker(grace=5)
    err = r.pod_findings(pod("p", "x", waiting="ErrImagePull", message="rpc error: not found"), 3)
    backoff = r.pod_findings(pod("p", "x", waiting="ImagePullBackOff", message="Back-off pulling image"), 3)
    tracker.observe("p-uid", err, 0.0)
    tracker.observe("p-uid", backoff, 2.0)
    confirmed = tracker.confirmed("p-uid", backoff, 5.0)
    assert confirmed and "last pull error: rpc error: not found" in confirmed[0]["message"]


def test_transient_pull_error_gets_the_longer_grace():
    tracker = r.FailureTracker(grace=5, transient_grace=30)
    err = r.pod_findings(pod("p", "x", waiting="ErrImagePull", message="dial tcp: connection refused"), 3)
    tracker.observe("p-uid", err, 0.0)
    assert tracker.confirmed("p-uid", err, 10.0) == []
    assert tracker.confirmed("p-uid", err, 30.0)[0]["reason"] == "ErrImagePull"


def test_restarts_over_threshold_confirmed_at_once_and_forget():
    tracker = r.FailureTracker(grace=5)
    findings = r.pod_findings(pod("p", "x", restarts=9), 3)
    tracker.observe("p-uid", findings, 0.0)
    assert tracker.confirmed("p-uid", findings, 0.0)[0]["reason"] == r.RESTARTS_REASON
    tracker.forget("p-uid")
    assert tracker.confirmed("p-uid", findings, 100.0) == []


# ---- evaluate_workload: the module's view of one workload ----


def _world(waiting=None, restarts=0, ready=False, message="", **dep_kwargs):
    dep = deployment(revision="3", **dep_kwargs)
    rs = [replicaset("rs-old", "2", "old"), replicaset("rs-new", "3", "new")]
    pods = [
        pod(
            "backend-new-1",
            "rs-new",
            {"pod-template-hash": "new"},
            waiting=waiting,
            restarts=restarts,
            ready=ready,
            message=message,
            last_exit=1 if restarts else None,
        ),
        pod("backend-old-1", "rs-old", {"pod-template-hash": "old"}, waiting="CrashLoopBackOff", restarts=50),
    ]
    return dep, pods, rs


def test_evaluate_complete_ignores_old_pods():
    dep, pods, rs = _world(ready=True)
    result = r.evaluate_workload("Deployment", dep, pods, rs, r.FailureTracker(5), 0.0, 3)
    assert result["state"] == "complete" and result["revision"] == "3" and result["ready"] is True
    assert result["failing_pods"] == []


def test_evaluate_image_failure_after_grace():
    dep, pods, rs = _world(waiting="ImagePullBackOff", message="Back-off pulling image", available=0, updated=1)
    tracker = r.FailureTracker(5)
    first = r.evaluate_workload("Deployment", dep, pods, rs, tracker, 0.0, 3)
    assert first["state"] == "waiting" and "ImagePullBackOff" in first["hint"]
    later = r.evaluate_workload("Deployment", dep, pods, rs, tracker, 6.0, 3)
    assert later["state"] == "failed" and later["reason"] == "ImagePullBackOff"
    assert later["failing_pods"][0]["name"] == "backend-new-1" and later["image"] == IMAGE
    assert r.failure_message(later).startswith("backend: ImagePullBackOff for image %s (pod backend-new-1: " % IMAGE)


def test_evaluate_pod_recovering_from_one_crash_does_not_fail():
    dep, pods, rs = _world(restarts=1, ready=True, available=2)
    tracker = r.FailureTracker(5)
    for now in (0.0, 10.0, 60.0):
        assert r.evaluate_workload("Deployment", dep, pods, rs, tracker, now, 3)["state"] == "waiting"


def test_evaluate_crash_loop_and_deleting_pods():
    dep, pods, rs = _world(waiting="CrashLoopBackOff", restarts=2, available=0, message="back-off 20s")
    tracker = r.FailureTracker(5)
    r.evaluate_workload("Deployment", dep, pods, rs, tracker, 0.0, 3)
    result = r.evaluate_workload("Deployment", dep, pods, rs, tracker, 5.0, 3)
    assert result["state"] == "failed" and result["reason"] == "CrashLoopBackOff"
    assert r.failure_text(result) == "CrashLoopBackOff in container app (2 restarts)"
    deleting = copy.deepcopy(pods)
    deleting[0]["metadata"]["deletionTimestamp"] = "now"
    assert r.evaluate_workload("Deployment", dep, deleting, rs, r.FailureTracker(0), 9.0, 3)["state"] == "waiting"


def test_evaluate_progress_deadline_and_paused():
    dep, pods, rs = _world(progressing_reason="ProgressDeadlineExceeded", available=0)
    result = r.evaluate_workload("Deployment", dep, pods, rs, r.FailureTracker(5), 0.0, 3)
    assert (result["state"], result["reason"]) == ("failed", r.PROGRESS_DEADLINE_REASON)
    assert r.failure_message(result).startswith("backend: ProgressDeadlineExceeded: ")
    dep, pods, rs = _world(paused=True, updated=0, available=0)
    assert r.evaluate_workload("Deployment", dep, pods, rs, r.FailureTracker(5), 0.0, 3)["reason"] == r.PAUSED_REASON


def test_unschedulable_is_a_hint_not_a_failure():
    dep, pods, rs = _world(available=0)
    pods[0]["status"]["conditions"][1] = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available",
    }
    result = r.evaluate_workload("Deployment", dep, pods, rs, r.FailureTracker(0), 100.0, 3)
    assert result["state"] == "waiting" and result["hint"] == "Unschedulable: 0/3 nodes are available"
    assert r.progress_line(result) == "backend 3/3 updated, 0/3 available (Unschedulable: 0/3 nodes are available)"


def test_latest_warning_event_explains_a_stuck_pod():
    events = [
        {
            "type": "Normal",
            "reason": "Scheduled",
            "involvedObject": {"kind": "Pod", "uid": "p-uid"},
            "lastTimestamp": "2026-01-01T00:00:09Z",
        },
        {
            "type": "Warning",
            "reason": "FailedMount",
            "message": "secret x not found",
            "involvedObject": {"kind": "Pod", "uid": "p-uid"},
            "lastTimestamp": "2026-01-01T00:00:01Z",
        },
        {
            "type": "Warning",
            "reason": "FailedCreatePodSandBox",
            "message": "runc create failed",
            "involvedObject": {"kind": "Pod", "uid": "p-uid"},
            "lastTimestamp": "2026-01-01T00:00:05Z",
        },
        {"type": "Warning", "reason": "ScalingReplicaSet", "involvedObject": {"kind": "Deployment", "uid": "d"}},
    ]
    warnings = r.latest_warnings(events)
    assert warnings == {"p-uid": {"reason": "FailedCreatePodSandBox", "message": "runc create failed"}}
    creating = pod("p", "x", waiting="ContainerCreating")
    assert r.pod_hint(creating) is None
    assert r.pod_hint(creating, warnings["p-uid"]) == "FailedCreatePodSandBox: runc create failed"
    # the pod's own status wins over events
    assert (
        r.pod_hint(pod("p", "x", waiting="ImagePullBackOff", message="m"), warnings["p-uid"]) == "ImagePullBackOff: m"
    )


def test_evaluate_uses_event_warnings_for_the_hint():
    dep, pods, rs = _world(waiting="ContainerCreating", available=0)
    warnings = {"backend-new-1-uid": {"reason": "FailedCreatePodSandBox", "message": "runc create failed"}}
    result = r.evaluate_workload("Deployment", dep, pods, rs, r.FailureTracker(0), 100.0, 3, warnings)
    assert result["state"] == "waiting" and result["hint"] == "FailedCreatePodSandBox: runc create failed"
