"""The wait loop of rollout_waiter.py with scripted watchers instead of an apiserver (the real watch
is exercised by tests/integration/modules against the local cluster)."""

import threading

import pytest

from ansible_collections.intelligent_agent.platform.plugins.module_utils import rollout_waiter as rw
from ansible_collections.intelligent_agent.platform.plugins.module_utils.k8s_watch import WatchFatal

from platform_rollout_objects import deployment, pod, replicaset  # pylint: disable=import-error


class FakeWatcher:
    world = {}
    fatal = {}
    later = []  # (resource, event_type, obj) delivered after the sync

    def __init__(self, api_client, resource, namespace, out, **kwargs):
        self.resource, self.namespace, self.out = resource, namespace, out
        self.stats = {"lists": 1, "watches": 1, "disconnects": 0, "errors": 0, "gone": 0}
        self.last_error = None

    def start(self):
        if self.resource in self.fatal:
            self.out.put(("fatal", self.resource, WatchFatal(self.resource, self.namespace, self.fatal[self.resource])))
            return
        self.out.put(("sync", self.resource, list(self.world.get(self.resource, []))))
        events = [("event", r, t, o) for r, t, o in self.later if r == self.resource]
        if events:  # after the first evaluation
            timer = threading.Timer(0.3, lambda: [self.out.put(e) for e in events])
            timer.daemon = True
            timer.start()

    def stop(self):
        pass


@pytest.fixture
def world(monkeypatch):
    monkeypatch.setattr(rw, "ResourceWatcher", FakeWatcher)
    FakeWatcher.world, FakeWatcher.fatal, FakeWatcher.later = {}, {}, []
    return FakeWatcher


def waiter(**kwargs):
    lines = []
    kwargs.setdefault("names", ["backend"])
    w = rw.RolloutWaiter(None, "ns", progress=lines.append, **kwargs)
    return w, lines


def healthy_world(world, **dep_kwargs):
    world.world = {
        "deployments": [deployment(revision="3", **dep_kwargs)],
        "replicasets": [replicaset("rs-new", "3", "new")],
        "pods": [pod("backend-new-1", "rs-new", {"pod-template-hash": "new"}, ready=True)],
    }


def test_missing_workload_is_named(world):
    healthy_world(world)
    with pytest.raises(rw.WaitError, match=r"^Deployment frontend not found in namespace ns$") as info:
        waiter(names=["backend", "frontend"])[0].run()
    assert info.value.names == ["frontend"]


def test_missing_workload_in_check_mode_is_reported(world):
    healthy_world(world)
    result = waiter(names=["backend", "frontend"])[0].run(check_mode=True)
    states = dict((w["name"], w["state"]) for w in result["workloads"])
    assert states == {"frontend": "missing", "backend": "complete"} and result["failed"] is False


def test_selector_matching_nothing(world):
    world.world = {"deployments": []}
    with pytest.raises(rw.WaitError, match="no Deployment matches selector 'app=x' in namespace ns"):
        waiter(names=None, selector="app=x")[0].run()


@pytest.mark.parametrize("resource", ["deployments", "replicasets", "pods"])
def test_forbidden_resource_is_named_whichever_it_is(world, resource):
    healthy_world(world)
    world.fatal = {resource: "Forbidden (403): nope"}
    with pytest.raises(rw.WaitError) as info:
        waiter()[0].run()
    assert str(info.value) == "cannot list/watch %s in namespace ns: Forbidden (403): nope" % resource
    assert info.value.names == ["backend"]


def test_complete_at_once(world):
    healthy_world(world)
    w, lines = waiter()
    result = w.run()
    workload = result["workloads"][0]
    assert (workload["state"], workload["revision"], workload["durations"]["complete_s"]) == ("complete", "3", 0.0)
    assert result["msg"] == "rolled out: backend: complete in 0.0s" and result["failed_workloads"] == []
    assert lines[0] == "waiting for 1 workload(s) in namespace ns: backend (timeout 300s)"
    assert lines[-1].startswith("backend complete in 0.0s (revision 3)")


def test_becomes_complete_through_an_event(world):
    healthy_world(world, available=1)
    world.later = [("deployments", "MODIFIED", deployment(revision="3"))]
    result = waiter(timeout=5)[0].run()
    assert result["workloads"][0]["state"] == "complete"


def test_image_failure_after_grace_stops_waiting_for_the_others(world):
    world.world = {
        "deployments": [deployment(revision="3", available=0), deployment(revision="1", name="frontend", available=0)],
        "replicasets": [replicaset("rs-new", "3", "new")],
        "pods": [
            pod(
                "backend-new-1",
                "rs-new",
                {"pod-template-hash": "new"},
                waiting="ErrImagePull",
                message="rpc error: code = NotFound desc = not found",
            )
        ],
    }
    world.world["deployments"][1]["metadata"]["uid"] = "other"
    w, lines = waiter(names=["backend", "frontend"], grace=0.3, timeout=20, log_lines=0)
    result = w.run()
    assert result["failed"] and result["failed_workloads"] == ["backend"]
    assert result["elapsed_s"] < 5
    assert result["msg"].startswith(
        "backend: ErrImagePull for image 127.0.0.1:5000/ia/backend:9.9.9 (pod backend-new-1: "
    )
    assert result["msg"].endswith("; stopped waiting for frontend")
    states = dict((x["name"], x["state"]) for x in result["workloads"])
    assert states == {"backend": "failed", "frontend": "waiting"}
    assert any(line.startswith("backend failed: ErrImagePull") for line in lines)


def test_timeout_reports_progress_and_hint(world):
    healthy_world(world, available=1)
    world.world["pods"][0]["status"]["conditions"][1] = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/4 nodes are available",
    }
    result = waiter(timeout=0.6)[0].run()
    assert result["failed"] and result["workloads"][0]["state"] == "timeout"
    assert result["msg"] == (
        "backend: timed out after 0s (3/3 updated, 1/3 available): 1 of 3 updated replicas are "
        "available (Unschedulable: 0/4 nodes are available)"
    )


def test_deleted_during_wait(world):
    healthy_world(world, available=1)
    world.later = [("deployments", "DELETED", deployment(revision="3"))]
    result = waiter(timeout=5)[0].run()
    assert result["workloads"][0]["reason"] == "Deleted" and result["failed"]


def test_events_are_optional(world):
    healthy_world(world)
    world.fatal = {"events": "Forbidden (403): events is forbidden"}
    original = FakeWatcher.start

    def start(self):
        if self.resource == "events":
            self.out.put(("optional-failed", "events", None))
            return
        original(self)

    world.start = start
    try:
        assert waiter()[0].run()["workloads"][0]["state"] == "complete"
    finally:
        world.start = original


def test_timeout_hint_from_a_warning_event(world):
    healthy_world(world, available=0)
    world.world["pods"][0]["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
    world.world["events"] = [
        {
            "type": "Warning",
            "reason": "FailedCreatePodSandBox",
            "message": "runc failed",
            "involvedObject": {"kind": "Pod", "uid": "backend-new-1-uid"},
            "metadata": {"uid": "e1"},
        }
    ]
    result = waiter(timeout=0.6)[0].run()
    assert result["msg"].endswith("(FailedCreatePodSandBox: runc failed)")
