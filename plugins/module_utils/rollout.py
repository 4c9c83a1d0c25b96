# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout logic as plain functions over Kubernetes objects (dicts): success predicates, failure
classification of pods, and the texts a person reads. No Kubernetes client, no Ansible imports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Waiting reasons that mean the image cannot be pulled or named.
IMAGE_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
# Waiting reasons that mean the container cannot start or keeps dying.
CONTAINER_REASONS = ("CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError")
FAILURE_REASONS = IMAGE_REASONS + CONTAINER_REASONS
RESTARTS_REASON = "RestartThresholdExceeded"
PROGRESS_DEADLINE_REASON = "ProgressDeadlineExceeded"


def replicas_text(replicas):
    """'3/5 updated, 2/5 available' from a workload result's ``replicas`` dict."""
    if not replicas:
        return ""
    desired = replicas.get("desired", 0)
    return "%s/%s updated, %s/%s available" % (
        replicas.get("updated", 0), desired, replicas.get("available", 0), desired)


def failure_text(workload):
    """Why a workload failed, in one phrase: 'ImagePullBackOff for image reg/x:1.0'."""
    reason = workload.get("reason") or "failed"
    pods = workload.get("failing_pods") or []
    pod = pods[0] if pods else {}
    image = pod.get("image") or workload.get("image")
    if reason in IMAGE_REASONS and image:
        return "%s for image %s" % (reason, image)
    if reason in CONTAINER_REASONS or reason == RESTARTS_REASON:
        text = reason
        if pod.get("container"):
            text += " in container %s" % pod["container"]
        if pod.get("restarts"):
            text += " (%s restarts)" % pod["restarts"]
        return text
    message = workload.get("message")
    return "%s: %s" % (reason, message) if message else reason


def workload_summary(workload):
    """One phrase per workload: 'frontend: complete in 12.3s', 'backend: failed (...)'."""
    name = workload.get("name", "?")
    state = workload.get("state", "unknown")
    if state == "complete":
        seconds = (workload.get("durations") or {}).get("complete_s")
        return "%s: complete in %.1fs" % (name, seconds) if seconds is not None else "%s: complete" % name
    if state == "failed":
        return "%s: failed (%s)" % (name, failure_text(workload))
    progress = replicas_text(workload.get("replicas"))
    return "%s: %s (%s)" % (name, state, progress) if progress else "%s: %s" % (name, state)


def rollout_summary(workloads):
    """One line for a list of workload results, failures first, then by name."""
    if not workloads:
        return "no workloads"
    order = {"failed": 0, "timeout": 1}
    ordered = sorted(workloads, key=lambda w: (order.get(w.get("state"), 2), str(w.get("name"))))
    return "; ".join(workload_summary(w) for w in ordered)
