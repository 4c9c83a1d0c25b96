"""make bench's rollout logic: kubectl's completion verdict, the watcher's timeline and the peers' output."""

from __future__ import annotations

import pytest

from bench.timeline import (
    DeploymentState,
    Timeline,
    ansible_failure_time,
    deploy_timings,
    deployment_state,
    first_line_time,
    rollout_complete,
    task_durations,
    task_profile,
    version_images,
)


def deployment(
    name="backend",
    generation=2,
    observed=2,
    replicas=2,
    status_replicas=2,
    updated=2,
    available=2,
    image="reg/backend:1",
    reason="NewReplicaSetAvailable",
):
    return {
        "metadata": {"name": name, "generation": generation},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {
            "observedGeneration": observed,
            "replicas": status_replicas,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": [
                {"type": "Available", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "reason": reason},
            ],
        },
    }


def test_deployment_state_reads_what_decides_a_rollout():
    state = deployment_state(deployment(image="reg/frontend:2"))
    assert state == DeploymentState("backend", 2, 2, 2, 2, 2, 2, ("reg/frontend:2",), "NewReplicaSetAvailable")
    # A Deployment the controller has not seen yet: no status at all; replicas defaults to 1.
    fresh = {"metadata": {"name": "x", "generation": 1}, "spec": {"template": {"spec": {"containers": []}}}}
    assert deployment_state(fresh) == DeploymentState("x", 1, 0, 1, 0, 0, 0, ())


@pytest.mark.parametrize(
    ("fields", "complete"),
    [
        ({}, True),
        ({"observed": 1}, False),  # the controller has not seen the new spec
        ({"reason": "ProgressDeadlineExceeded"}, False),
        ({"updated": 1, "status_replicas": 3}, False),  # not every replica updated
        ({"status_replicas": 3}, False),  # an old replica is still there
        ({"available": 1}, False),  # an updated replica is not available
        ({"replicas": 0, "status_replicas": 0, "updated": 0, "available": 0}, True),
    ],
)
def test_rollout_complete_follows_kubectl_rollout_status(fields, complete):
    assert rollout_complete(deployment_state(deployment(**fields))) is complete


def timeline(*events):
    out = Timeline()
    for when, obj in events:
        if isinstance(obj, str):
            out.record_deleted(when, obj)
        else:
            out.record(when, deployment_state(obj))
    return out


def test_first_change_is_the_first_generation_past_the_baseline():
    tl = timeline(
        (1.0, deployment("frontend", generation=1, observed=1)),
        (2.0, deployment("backend", generation=1, observed=1)),
        (5.0, deployment("backend", generation=2, observed=1)),
        (6.0, deployment("frontend", generation=2, observed=1)),
    )
    assert tl.first_change(3.0, {"frontend": 1, "backend": 1}) == 5.0
    assert tl.first_change(5.5, {"frontend": 1, "backend": 2}) == 6.0
    assert tl.first_change(7.0, {"frontend": 2, "backend": 2}) is None
    # A Deployment created after the baseline counts as a change.
    assert tl.first_change(0.0, {}) == 1.0


def test_complete_with_waits_for_every_name_and_its_images():
    old, new = "reg/backend:1", "reg/backend:2"
    tl = timeline(
        (1.0, deployment("frontend", image="reg/frontend:1", generation=1, observed=1)),
        (1.0, deployment("backend", image=old, generation=1, observed=1)),
        (3.0, deployment("backend", image=new, generation=2, observed=1)),
        (4.0, deployment("backend", image=new, generation=2, observed=2, status_replicas=3, updated=1, available=2)),
        (8.0, deployment("backend", image=new, generation=2, observed=2)),
        (9.0, deployment("backend", image=old, generation=3, observed=3)),
    )
    want_new = {"frontend": ("reg/frontend:1",), "backend": (new,)}
    want_old = {"frontend": ("reg/frontend:1",), "backend": (old,)}
    assert tl.complete_with(["frontend", "backend"], want_new, 2.0) == 8.0
    # Already true at `since`.
    assert tl.complete_with(["frontend", "backend"], want_old, 1.5) == 1.5
    # Back on the old images after the failed rollout.
    assert tl.complete_with(["frontend", "backend"], want_old, 3.0) == 9.0
    # Without images: any complete state.
    assert tl.complete_with(["backend"], None, 3.5) == 8.0
    assert tl.complete_with(["frontend", "missing"], None, 0.0) is None


def test_states_at_and_deletion():
    tl = timeline((1.0, deployment("a")), (2.0, deployment("b")), (3.0, "a"))
    assert set(tl.states_at(2.5)) == {"a", "b"}
    assert set(tl.states_at(3.0)) == {"b"}
    assert tl.complete_with(["a"], None, 3.0) is None


def test_completion_times_per_deployment_from_a_generation_on():
    tl = timeline(
        (1.0, deployment("a", generation=1, observed=1)),
        (2.0, deployment("b", generation=1, observed=1, available=0)),
        (3.0, deployment("a", generation=2, observed=1)),
        (4.0, deployment("a", generation=2, observed=2)),
        (5.0, deployment("b", generation=1, observed=1)),
    )
    assert tl.completion_times(["a", "b"], 0.0) == {"a": 1.0, "b": 5.0}
    assert tl.completion_times(["a", "b"], 0.0, {"a": 2}) == {"a": 4.0, "b": 5.0}
    assert tl.completion_times(["a", "c"], 2.5) == {"a": 4.0}


ANSIBLE_OUTPUT = """\
TASK [Check the registry] ******************************************************
fatal: [localhost]: FAILED! =>
    msg: not there
...ignoring

TASK [Wait for the rollout] ****************************************************
fatal: [localhost]: FAILED! =>
    msg: 'backend: ImagePullBackOff'

TASK [Record why the release failed] *******************************************
ok: [localhost]
fatal: [localhost]: FAILED! =>
    msg: 'Release 9.9.9 ... ROLLED-BACK'
          timings: namespace-secrets-config-image 5.4 s, app 3.4 s, wait 6.5 s
"""


def lines(text):
    return [(float(i), line) for i, line in enumerate(text.splitlines())]


def test_ansible_failure_time_skips_ignored_failures():
    out = lines(ANSIBLE_OUTPUT)
    assert ansible_failure_time(out) == 6.0
    assert ansible_failure_time(out, after=7.0) == 11.0
    assert ansible_failure_time(lines("TASK [x] ***\nok: [localhost]\n")) is None
    # The failing task is the last one printed.
    assert ansible_failure_time(lines("TASK [x] ***\nfatal: [localhost]: FAILED! =>\n")) == 1.0


def test_first_line_time_and_deploy_timings():
    out = lines(ANSIBLE_OUTPUT)
    assert first_line_time(out, r"ImagePullBackOff") == 7.0
    assert first_line_time(out, r"^nothing") is None
    assert deploy_timings(out) == {"namespace-secrets-config-image": 5.4, "app": 3.4, "wait": 6.5}
    assert deploy_timings(lines("no summary")) == {}


def test_version_images():
    template = {"frontend": ("reg/frontend:3.0.0-bench",), "backend": ("reg/backend:3.0.0-bench",)}
    assert version_images(template, "3.0.0-bench", "3.9.9-missing") == {
        "frontend": ("reg/frontend:3.9.9-missing",),
        "backend": ("reg/backend:3.9.9-missing",),
    }


def test_task_durations_and_profile():
    out = [
        (0.0, "PLAY [Deploy] ****"),
        (1.0, "TASK [release : Check inputs] ****************"),
        (1.2, "ok: [localhost]"),
        (1.5, "TASK [release : Read the live objects] ***"),
        (4.5, "TASK [app : Apply] ***"),
        (5.0, "changed: [localhost]"),
        (6.0, "PLAY RECAP ***"),
    ]
    assert task_durations(out) == [
        ("release : Check inputs", 0.5),
        ("release : Read the live objects", 3.0),
        ("app : Apply", 1.5),
    ]
    assert task_durations(out, end=7.0)[-1] == ("app : Apply", 2.5)
    profile = task_profile(out, top=2)
    assert profile["tasks"] == 3
    assert profile["seconds"] == pytest.approx(5.0)
    assert profile["mean_seconds"] == pytest.approx(5.0 / 3, abs=1e-3)
    assert [x["task"] for x in profile["slowest"]] == ["release : Read the live objects", "app : Apply"]
    assert task_profile([(0.0, "no tasks")]) == {"tasks": 0, "seconds": 0, "mean_seconds": 0.0, "slowest": []}
