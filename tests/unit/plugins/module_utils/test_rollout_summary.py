from ansible_collections.intelligent_agent.platform.plugins.module_utils.rollout import (
    failure_text,
    replicas_text,
    rollout_summary,
)

IMAGE = "127.0.0.1:5000/x/backend:9.9.9"


def test_summary_failures_first_then_by_name():
    workloads = [
        {"name": "frontend", "state": "complete", "durations": {"complete_s": 12.34}},
        {
            "name": "backend",
            "state": "failed",
            "reason": "ImagePullBackOff",
            "image": IMAGE,
            "failing_pods": [{"name": "backend-abc", "reason": "ImagePullBackOff", "image": IMAGE}],
        },
    ]
    assert rollout_summary(workloads) == (
        "backend: failed (ImagePullBackOff for image %s); frontend: complete in 12.3s" % IMAGE
    )


def test_summary_crash_timeout_and_unknown_durations():
    workloads = [
        {"name": "worker", "state": "timeout", "replicas": {"desired": 5, "updated": 3, "available": 2}},
        {
            "name": "api",
            "state": "failed",
            "reason": "CrashLoopBackOff",
            "failing_pods": [{"container": "app", "restarts": 4}],
        },
        {"name": "web", "state": "complete", "durations": {"complete_s": None}},
    ]
    assert rollout_summary(workloads) == (
        "api: failed (CrashLoopBackOff in container app (4 restarts)); "
        "worker: timeout (3/5 updated, 2/5 available); web: complete"
    )


def test_failure_text_falls_back_to_reason_and_message():
    assert failure_text({"reason": "ProgressDeadlineExceeded", "message": "RS has timed out"}) == (
        "ProgressDeadlineExceeded: RS has timed out"
    )
    assert failure_text({}) == "failed"
    assert replicas_text(None) == ""
    assert rollout_summary([]) == "no workloads"
