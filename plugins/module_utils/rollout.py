# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout logic as plain functions over Kubernetes objects (camelCase dicts, as the API returns them):
success predicates, which pods belong to the new revision, failure classification with a grace period,
and the texts a person reads. No Kubernetes client and no Ansible imports: unit-tested without a cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Waiting reasons that mean the image cannot be pulled or named.
IMAGE_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
# Waiting reasons that mean the container cannot start or keeps dying.
CONTAINER_REASONS = ("CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError")
FAILURE_REASONS = IMAGE_REASONS + CONTAINER_REASONS
RESTARTS_REASON = "RestartThresholdExceeded"
PROGRESS_DEADLINE_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
UNSUPPORTED_STRATEGY_REASON = "UnsupportedUpdateStrategy"

# A pull error that looks like the network or the registry hiccuping rather than a missing image:
# it must persist for the longer transient grace before it fails a rollout (see krane issue 477).
TRANSIENT_PULL_RE = re.compile(
    r"(connection refused|connection reset|i/o timeout|timed out|timeout|temporary failure|unexpected EOF"
    r"|\bEOF\b|no route to host|network is unreachable|TLS handshake|too many requests|toomanyrequests"
    r"|service unavailable|bad gateway|gateway time|\b50[0234]\b|\b429\b)",
    re.IGNORECASE,
)

DEPLOYMENT_REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
DAEMONSET_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def _get(obj, *path, **kwargs):
    default = kwargs.get("default")
    for key in path:
        if not isinstance(obj, dict) or obj.get(key) is None:
            return default
        obj = obj[key]
    return obj


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def generation_observed(obj):
    """True once the controller has seen the latest spec (metadata.generation <= status.observedGeneration)."""
    generation = _int(_get(obj, "metadata", "generation"))
    observed = _get(obj, "status", "observedGeneration")
    return observed is not None and generation <= _int(observed)


def condition(obj, cond_type):
    for cond in _get(obj, "status", "conditions", default=[]) or []:
        if cond.get("type") == cond_type:
            return cond
    return None


class Status(object):
    """Outcome of a status predicate: done, waiting (with a message), or failed (reason + message)."""

    __slots__ = ("done", "message", "failure_reason")

    def __init__(self, done, message, failure_reason=None):
        self.done = done
        self.message = message
        self.failure_reason = failure_reason

    @property
    def failed(self):
        return self.failure_reason is not None

    def __repr__(self):
        return "Status(done=%r, message=%r, failure_reason=%r)" % (self.done, self.message, self.failure_reason)


# The three predicates below follow kubectl rollout status, so that "complete" means the same here as there:
# https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go
# (DeploymentStatusViewer, StatefulSetStatusViewer, DaemonSetStatusViewer .Status). Additions, marked below:
# a paused Deployment that is not complete fails instead of waiting forever.


def deployment_status(dep):
    name = _get(dep, "metadata", "name", default="?")
    if not generation_observed(dep):
        return Status(False, "waiting for deployment spec update to be observed")
    progressing = condition(dep, "Progressing")
    if progressing and progressing.get("reason") == PROGRESS_DEADLINE_REASON:
        return Status(
            False,
            progressing.get("message") or "deployment %s exceeded its progress deadline" % name,
            PROGRESS_DEADLINE_REASON,
        )
    spec_replicas = _get(dep, "spec", "replicas")
    replicas = _int(_get(dep, "status", "replicas"))
    updated = _int(_get(dep, "status", "updatedReplicas"))
    available = _int(_get(dep, "status", "availableReplicas"))
    waiting = None
    if spec_replicas is not None and updated < _int(spec_replicas):
        waiting = "%d out of %d new replicas have been updated" % (updated, _int(spec_replicas))
    elif replicas > updated:
        waiting = "%d old replicas are pending termination" % (replicas - updated)
    elif available < updated:
        waiting = "%d of %d updated replicas are available" % (available, updated)
    if waiting is None:
        return Status(True, "successfully rolled out")
    if _get(dep, "spec", "paused"):  # addition: kubectl would wait for ever
        return Status(
            False,
            "deployment is paused with the rollout unfinished (%s); resume it with "
            "'kubectl rollout resume deployment/%s' or set spec.paused to false" % (waiting, name),
            PAUSED_REASON,
        )
    return Status(False, waiting)


def statefulset_status(sts):
    strategy = _get(sts, "spec", "updateStrategy", default={}) or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return Status(
            False, "rollout status is only available for the RollingUpdate strategy type", UNSUPPORTED_STRATEGY_REASON
        )
    observed = _int(_get(sts, "status", "observedGeneration"))
    if observed == 0 or _int(_get(sts, "metadata", "generation")) > observed:
        return Status(False, "waiting for statefulset spec update to be observed")
    spec_replicas = _get(sts, "spec", "replicas")
    ready = _int(_get(sts, "status", "readyReplicas"))
    if spec_replicas is not None and ready < _int(spec_replicas):
        return Status(False, "waiting for %d pods to be ready" % (_int(spec_replicas) - ready))
    rolling = strategy.get("rollingUpdate")
    if rolling is not None:
        partition = rolling.get("partition")
        updated = _int(_get(sts, "status", "updatedReplicas"))
        if spec_replicas is not None and partition is not None and updated < _int(spec_replicas) - _int(partition):
            return Status(
                False,
                "waiting for partitioned roll out to finish: %d out of %d new pods have been updated"
                % (updated, _int(spec_replicas) - _int(partition)),
            )
        return Status(True, "partitioned roll out complete: %d new pods have been updated" % updated)
    if _get(sts, "status", "updateRevision") != _get(sts, "status", "currentRevision"):
        return Status(
            False,
            "waiting for statefulset rolling update to complete %d pods at revision %s"
            % (_int(_get(sts, "status", "updatedReplicas")), _get(sts, "status", "updateRevision")),
        )
    return Status(True, "statefulset rolling update complete")


def daemonset_status(ds):
    strategy = _get(ds, "spec", "updateStrategy", "type", default="RollingUpdate")
    if strategy != "RollingUpdate":
        return Status(
            False, "rollout status is only available for the RollingUpdate strategy type", UNSUPPORTED_STRATEGY_REASON
        )
    if not generation_observed(ds):
        return Status(False, "waiting for daemon set spec update to be observed")
    desired = _int(_get(ds, "status", "desiredNumberScheduled"))
    updated = _int(_get(ds, "status", "updatedNumberScheduled"))
    available = _int(_get(ds, "status", "numberAvailable"))
    if updated < desired:
        return Status(False, "%d out of %d new pods have been updated" % (updated, desired))
    if available < desired:
        return Status(False, "%d of %d updated pods are available" % (available, desired))
    return Status(True, "successfully rolled out")


STATUS_PREDICATES = {
    "Deployment": deployment_status,
    "StatefulSet": statefulset_status,
    "DaemonSet": daemonset_status,
}


def rollout_status(kind, obj):
    return STATUS_PREDICATES[kind](obj)


def replica_counts(kind, obj):
    """desired / updated / ready / available counts of a workload, for progress lines and results."""
    status = _get(obj, "status", default={}) or {}
    if kind == "DaemonSet":
        return {
            "desired": _int(status.get("desiredNumberScheduled")),
            "updated": _int(status.get("updatedNumberScheduled")),
            "ready": _int(status.get("numberReady")),
            "available": _int(status.get("numberAvailable")),
        }
    desired = _get(obj, "spec", "replicas")
    return {
        "desired": _int(desired, 1) if desired is not None else 1,
        "updated": _int(status.get("updatedReplicas")),
        "ready": _int(status.get("readyReplicas")),
        # the API omits zero counts: a missing availableReplicas is 0, never readyReplicas
        "available": _int(status.get("availableReplicas")),
    }


def _owned_by(obj, owner_uid):
    for ref in _get(obj, "metadata", "ownerReferences", default=[]) or []:
        if ref.get("controller") and ref.get("uid") == owner_uid:
            return True
    return False


def new_replicaset(deployment, replicasets):
    """The ReplicaSet of the Deployment's current revision (same deployment.kubernetes.io/revision), or None.

    Its pods carry its pod-template-hash label; the ReplicaSet is named <deployment>-<pod-template-hash>.
    """
    uid = _get(deployment, "metadata", "uid")
    revision = _get(deployment, "metadata", "annotations", DEPLOYMENT_REVISION_ANNOTATION)
    if revision is None:
        return None
    for rs in replicasets:
        if _owned_by(rs, uid) and _get(rs, "metadata", "annotations", DEPLOYMENT_REVISION_ANNOTATION) == revision:
            return rs
    return None


def workload_revision(kind, obj):
    """The revision being rolled out, as a string (Deployment revision number, StatefulSet update revision,
    DaemonSet template generation)."""
    if kind == "Deployment":
        value = _get(obj, "metadata", "annotations", DEPLOYMENT_REVISION_ANNOTATION)
    elif kind == "StatefulSet":
        value = _get(obj, "status", "updateRevision")
    else:
        value = _get(
            obj, "metadata", "annotations", DAEMONSET_GENERATION_ANNOTATION, default=_get(obj, "metadata", "generation")
        )
    return None if value is None else str(value)


def new_revision_pods(kind, workload, pods, replicasets=()):
    """Pods of the revision being rolled out; old pods never count.

    Nothing counts before the controller has observed the latest generation, because until then the
    "current revision" is still the old one and the old pods' troubles are not this rollout's.
    """
    if not generation_observed(workload):
        return []
    uid = _get(workload, "metadata", "uid")
    if kind == "Deployment":
        rs = new_replicaset(workload, replicasets)
        if rs is None:
            return []
        rs_uid = _get(rs, "metadata", "uid")
        template_hash = _get(rs, "metadata", "labels", "pod-template-hash")
        return [
            p
            for p in pods
            if _owned_by(p, rs_uid) and _get(p, "metadata", "labels", "pod-template-hash") == template_hash
        ]
    if kind == "StatefulSet":
        revision = _get(workload, "status", "updateRevision")
        return [
            p
            for p in pods
            if _owned_by(p, uid) and revision and _get(p, "metadata", "labels", "controller-revision-hash") == revision
        ]
    generation = workload_revision(kind, workload)
    return [
        p for p in pods if _owned_by(p, uid) and _get(p, "metadata", "labels", "pod-template-generation") == generation
    ]


def pod_ready(pod):
    cond = condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def _container_image(pod, container_name):
    for section in ("initContainers", "containers"):
        for container in _get(pod, "spec", section, default=[]) or []:
            if container.get("name") == container_name:
                return container.get("image")
    return None


def _last_exit(status):
    terminated = _get(status, "lastState", "terminated")
    if not terminated:
        return ""
    text = "last exit code %s" % terminated.get("exitCode")
    if terminated.get("reason"):
        text += " (%s)" % terminated["reason"]
    return text


def failure_class(reason):
    """Pull failures share one class: ErrImagePull and ImagePullBackOff alternate for the same problem."""
    return "image" if reason in IMAGE_REASONS else reason


def pod_findings(pod, restart_threshold):
    """Failure signs in one pod: a list of dicts (container, reason, class, message, restarts, image).

    ``RestartThresholdExceeded`` is reported at once when a container restarted more than
    ``restart_threshold`` times; waiting reasons are only candidates until they persist for the grace
    period (see FailureTracker).
    """
    findings = []
    statuses = (_get(pod, "status", "initContainerStatuses", default=[]) or []) + (
        _get(pod, "status", "containerStatuses", default=[]) or []
    )
    for status in statuses:
        name = status.get("name")
        restarts = _int(status.get("restartCount"))
        image = _container_image(pod, name) or status.get("image")
        waiting = _get(status, "state", "waiting")
        if waiting and waiting.get("reason") in FAILURE_REASONS:
            message = waiting.get("message") or ""
            last_exit = _last_exit(status)
            if last_exit and waiting["reason"] in CONTAINER_REASONS:
                message = "%s; %s" % (message, last_exit) if message else last_exit
            findings.append(
                {
                    "container": name,
                    "reason": waiting["reason"],
                    "class": failure_class(waiting["reason"]),
                    "message": message,
                    "restarts": restarts,
                    "image": image,
                }
            )
        if restart_threshold is not None and restarts > restart_threshold:
            findings.append(
                {
                    "container": name,
                    "reason": RESTARTS_REASON,
                    "class": RESTARTS_REASON,
                    "message": "container restarted %d times (threshold %d)%s"
                    % (restarts, restart_threshold, ", " + _last_exit(status) if _last_exit(status) else ""),
                    "restarts": restarts,
                    "image": image,
                }
            )
    return findings


def pod_hint(pod, warning=None):
    """Why a pod does not progress although nothing failed (e.g. Unschedulable), or None. ``warning``: the
    pod's latest Warning event ({reason, message}), used when the pod's status says nothing more
    (FailedCreatePodSandBox and FailedMount only show as events)."""
    scheduled = condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        return "%s: %s" % (scheduled.get("reason") or "NotScheduled", scheduled.get("message") or "")
    for status in _get(pod, "status", "containerStatuses", default=[]) or []:
        waiting = _get(status, "state", "waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
            return "%s: %s" % (waiting.get("reason"), waiting.get("message") or "")
    if warning and warning.get("reason"):
        return "%s: %s" % (warning["reason"], warning.get("message") or "")
    return None


def latest_warnings(events):
    """pod uid -> {reason, message} of its latest Warning event, from core/v1 Event objects."""
    latest = {}
    for event in events:
        involved = event.get("involvedObject") or {}
        if event.get("type") != "Warning" or involved.get("kind") != "Pod" or not involved.get("uid"):
            continue
        stamp = (
            event.get("lastTimestamp") or event.get("eventTime") or _get(event, "metadata", "creationTimestamp") or ""
        )
        current = latest.get(involved["uid"])
        if current is None or stamp >= current[0]:
            latest[involved["uid"]] = (stamp, {"reason": event.get("reason"), "message": event.get("message")})
    return dict((uid, value[1]) for uid, value in latest.items())


def is_transient_pull_error(message):
    return bool(message) and bool(TRANSIENT_PULL_RE.search(message))


class FailureTracker(object):
    """Confirms a failure only once it has persisted: a waiting reason counts after ``grace`` seconds
    (``transient_grace`` when the last pull error looks like a network or registry hiccup); restarts over
    the threshold count at once. Time is passed in, so tests control it."""

    def __init__(self, grace, transient_grace=None):
        self.grace = float(grace)
        self.transient_grace = max(self.grace, float(transient_grace if transient_grace is not None else grace))
        self._since = {}  # (pod uid, container, class) -> first time seen
        self._pull_error = {}  # (pod uid, container) -> last ErrImagePull message

    def observe(self, pod_uid, findings, now):
        """Record the current findings of one pod; signs that went away are forgotten."""
        current = set()
        for finding in findings:
            key = (pod_uid, finding["container"], finding["class"])
            current.add(key)
            self._since.setdefault(key, now)
            if finding["reason"] == "ErrImagePull" and finding.get("message"):
                self._pull_error[(pod_uid, finding["container"])] = finding["message"]
        for key in [k for k in self._since if k[0] == pod_uid and k not in current]:
            del self._since[key]

    def forget(self, pod_uid):
        for store in (self._since, self._pull_error):
            for key in [k for k in store if k[0] == pod_uid]:
                del store[key]

    def pull_error(self, pod_uid, container):
        return self._pull_error.get((pod_uid, container))

    def grace_for(self, pod_uid, finding):
        if finding["class"] == RESTARTS_REASON:
            return 0.0
        if finding["class"] == "image" and finding["reason"] != "InvalidImageName":
            if is_transient_pull_error(self.pull_error(pod_uid, finding["container"]) or finding.get("message")):
                return self.transient_grace
        return self.grace

    def confirmed(self, pod_uid, findings, now):
        """The findings of this pod that have persisted for their grace period, each with ``for_s``."""
        out = []
        for finding in findings:
            since = self._since.get((pod_uid, finding["container"], finding["class"]))
            if since is None:
                continue
            if now - since >= self.grace_for(pod_uid, finding):
                item = dict(finding)
                item["for_s"] = round(now - since, 1)
                pull_error = self.pull_error(pod_uid, finding["container"])
                if finding["class"] == "image" and pull_error and pull_error != finding.get("message"):
                    item["message"] = "%s; last pull error: %s" % (finding.get("message") or "", pull_error)
                out.append(item)
        return out


def template_images(kind, obj):
    """Images of the workload's pod template, in container order."""
    containers = _get(obj, "spec", "template", "spec", "containers", default=[]) or []
    return [c.get("image") for c in containers if c.get("image")]


def evaluate_workload(kind, obj, pods, replicasets, tracker, now, restart_threshold, warnings=None):
    """State of one workload now: a dict with state (complete, failed or waiting), reason, message,
    revision, replicas, image(s), failing_pods (pods of the new revision with confirmed failures),
    ready (a new-revision pod is Ready) and hint (why it does not progress, when known; ``warnings`` maps
    pod uids to their latest Warning event, see latest_warnings)."""
    status = rollout_status(kind, obj)
    images = template_images(kind, obj)
    result = {
        "name": _get(obj, "metadata", "name"),
        "kind": kind,
        "state": "waiting",
        "revision": workload_revision(kind, obj),
        "reason": None,
        "message": status.message,
        "image": images[0] if images else None,
        "images": images,
        "replicas": replica_counts(kind, obj),
        "failing_pods": [],
        "ready": False,
        "hint": None,
    }
    new_pods = sorted(
        new_revision_pods(kind, obj, pods, replicasets), key=lambda p: _get(p, "metadata", "name", default="")
    )
    failing, seen = [], set()
    for pod in new_pods:
        uid = _get(pod, "metadata", "uid")
        findings = pod_findings(pod, restart_threshold)
        tracker.observe(uid, findings, now)
        if pod_ready(pod):
            result["ready"] = True
        if _get(pod, "metadata", "deletionTimestamp"):
            continue
        if result["hint"] is None:
            result["hint"] = pod_hint(pod, (warnings or {}).get(uid))
        for finding in tracker.confirmed(uid, findings, now):
            key = (uid, finding["container"])
            if key in seen:
                continue
            seen.add(key)
            failing.append(
                {
                    "name": _get(pod, "metadata", "name"),
                    "container": finding["container"],
                    "reason": finding["reason"],
                    "message": finding["message"],
                    "restarts": finding["restarts"],
                    "image": finding["image"],
                    "for_s": finding["for_s"],
                }
            )
    if status.done:
        result.update(state="complete", hint=None)
    elif status.failed:
        result.update(state="failed", reason=status.failure_reason)
    elif failing:
        first = failing[0]
        result.update(
            state="failed", reason=first["reason"], message=first["message"], image=first["image"] or result["image"]
        )
    if result["state"] == "failed":
        result["failing_pods"] = failing
    return result


def replicas_text(replicas):
    """'3/5 updated, 2/5 available' from a workload result's ``replicas`` dict."""
    if not replicas:
        return ""
    desired = replicas.get("desired", 0)
    return "%s/%s updated, %s/%s available" % (
        replicas.get("updated", 0),
        desired,
        replicas.get("available", 0),
        desired,
    )


def progress_line(workload):
    """Progress of one workload for the live output: 'backend 3/5 updated, 2/5 available'."""
    text = "%s %s" % (workload.get("name"), replicas_text(workload.get("replicas")))
    if workload.get("state") not in (None, "waiting"):
        text += ": %s" % workload["state"]
    if workload.get("hint"):
        text += " (%s)" % workload["hint"]
    return text.strip()


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


def failure_message(workload):
    """The sentence for ``msg``: 'backend: ImagePullBackOff for image X (pod backend-abc: Back-off ...)'."""
    text = "%s: %s" % (workload.get("name"), failure_text(workload))
    pods = workload.get("failing_pods") or []
    if pods and pods[0].get("message"):
        text += " (pod %s: %s)" % (pods[0].get("name"), pods[0]["message"])
    elif not pods and workload.get("reason") in IMAGE_REASONS + CONTAINER_REASONS and workload.get("message"):
        text += " (%s)" % workload["message"]
    return text


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
