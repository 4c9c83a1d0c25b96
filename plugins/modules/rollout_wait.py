#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rollout_wait
short_description: Wait for Deployments, StatefulSets and DaemonSets to roll out, and fail fast when they cannot
version_added: 0.1.0
author: Intelligent Agent platform team (@intelligent-agent)
description:
  - Waits for one or many workloads of one namespace at once, chosen by name or by label selector.
  - Driven by the Kubernetes watch API (list, then watch from the resourceVersion; on 410 Gone it lists
    again, on a disconnect or an apiserver restart it watches again), not by sleeping and polling.
  - A workload is complete when C(kubectl rollout status) would say so; see
    k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go. A paused Deployment whose rollout is unfinished
    fails instead of waiting for ever.
  - Fails fast, naming the cause, when pods of the new revision (the newest ReplicaSet of a Deployment, the
    update revision of a StatefulSet, the template generation of a DaemonSet; old pods never count) sit in
    C(ErrImagePull), C(ImagePullBackOff), C(InvalidImageName), C(CrashLoopBackOff),
    C(CreateContainerConfigError) or C(CreateContainerError) for longer than O(grace), when a container
    restarted more than O(restart_threshold) times, or when a Deployment reports C(ProgressDeadlineExceeded).
    Otherwise it fails at O(timeout).
  - A waiting reason counts only after it persisted for O(grace) seconds, and a pull error that looks like
    a network or registry hiccup (connection refused, timeout, 5xx, 429) only after O(transient_grace), so
    a transient registry problem does not fail a rollout.
  - On failure the result names the failing pods, their reasons and messages and the last O(log_lines)
    lines of the failing container's log (the previous container's log after a crash).
  - Progress lines (for example C(backend 3/5 updated, 2/5 available)) are printed while it waits when the
    task runs on the controller (C(connection=local), as in AWX); the action plugin of the same name does it.
  - Needs C(get), C(list) and C(watch) on the workloads, replicasets and pods of the namespace, and C(get) on
    C(pods/log) for the log lines. C(list) and C(watch) on events are used when allowed, to explain a pod that
    does not start (FailedCreatePodSandBox, FailedMount), and skipped otherwise.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.actiongroups
  - intelligent_agent.platform.k8s_module
attributes:
  check_mode:
    support: full
    details: In check mode it reports the current state of every workload at once without waiting, and does
      not fail on a failed or missing workload (a dry-run apply before it did not change anything).
  action:
    support: full
    details: The action plugin runs the module and prints its progress lines on the controller.
options:
  namespace:
    description: Namespace of the workloads.
    type: str
    required: true
  names:
    description:
      - Names of the workloads to wait for. Every name must exist (as one of O(kinds)).
      - Exactly one of O(names) and O(selector) is required.
    type: list
    elements: str
    aliases: [name]
  selector:
    description:
      - Label selector choosing the workloads, for example C(app.kubernetes.io/part-of=intelligent-agent).
        At least one workload must match.
    type: str
  kinds:
    description: Kinds of workloads to look for.
    type: list
    elements: str
    choices: [Deployment, StatefulSet, DaemonSet]
    default: [Deployment]
  timeout:
    description: Seconds to wait for every workload to complete.
    type: int
    default: 300
  grace:
    description:
      - Seconds a failure waiting reason of a new pod must persist before it fails the rollout.
    type: float
    default: 5
  transient_grace:
    description:
      - Seconds an image pull error that looks transient (connection refused or reset, timeout, TLS handshake,
        HTTP 5xx or 429) must persist before it fails the rollout. Never shorter than O(grace).
    type: float
    default: 30
  restart_threshold:
    description: A new pod's container that restarted more than this many times fails the rollout at once.
    type: int
    default: 3
  log_lines:
    description:
      - Number of log lines of a failing container to return; V(0) reads no logs.
      - Log lines and messages are redacted before they are returned (see O(redact_values)).
    type: int
    default: 20
  redact_values:
    description:
      - "Secret values (for example the values of the app's Secret) to replace with C(********) wherever they
        appear in log lines and messages. Independently of this list, passwords in URLs and the values of
        secret-looking assignments (C(JWT_SECRET=...), C(\"api_key\": \"...\")) are always redacted, so a
        container that prints its environment when it crashes leaks nothing through the result."
    type: list
    elements: str
    default: []
  stop_on_failure:
    description:
      - Stop waiting as soon as one workload failed; the others are reported in state C(waiting).
      - When false, it waits for all of them (up to O(timeout)) and reports every outcome.
    type: bool
    default: true
  progress_file:
    description:
      - Internal, set by the action plugin. Path of a file the module appends progress lines to.
    type: path
notes:
  - Compared with C(kubectl rollout status) (one workload, no pod inspection, waits for ever by default),
    Helm C(--wait) (fails early only on ProgressDeadlineExceeded, 600 s by default) and C(kubernetes.core.k8s)
    C(wait) (polls, times out after 120 s), this module watches all workloads at once and reports an image
    that cannot be pulled or a crashing container within seconds. See docs/modules.md.
seealso:
  - module: kubernetes.core.k8s
  - module: intelligent_agent.platform.health_check
"""

EXAMPLES = r"""
- name: Wait for the frontend and the backend to roll out
  intelligent_agent.platform.rollout_wait:
    namespace: intelligent-agent
    names: [frontend, backend]
    timeout: 300
  register: app_rollout

- name: Wait for everything of the platform, by label, with the deployer's token from AWX (K8S_AUTH_*)
  intelligent_agent.platform.rollout_wait:
    namespace: "{{ platform_namespace }}"
    selector: app.kubernetes.io/part-of=intelligent-agent
    kinds: [Deployment, StatefulSet]

- name: Report the rollout in one line
  ansible.builtin.debug:
    msg: "{{ app_rollout.workloads | intelligent_agent.platform.rollout_summary }}"
"""

RETURN = r"""
msg:
  description: What happened, in one line. On failure it names each failing workload and its cause.
  returned: always
  type: str
  sample: "backend: ImagePullBackOff for image 127.0.0.1:5000/ia/backend:9.9.9
    (pod backend-7d9f-x2x: Back-off pulling image ...)"
failed_workloads:
  description:
    - Names of the workloads that failed or timed out. When the wait could not run (a missing workload,
      a forbidden namespace) the missing names, else every requested name.
  returned: always
  type: list
  elements: str
  sample: [backend]
elapsed_s:
  description: Seconds the wait took.
  returned: always
  type: float
  sample: 12.4
watch:
  description: Counters of the watch connections (lists, watches, disconnects, errors, gone = 410 answers).
  returned: always
  type: dict
  sample: {lists: 3, watches: 5, disconnects: 2, errors: 1, gone: 0}
workloads:
  description: One entry per workload.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Workload name.
      type: str
      sample: backend
    kind:
      description: Workload kind.
      type: str
      sample: Deployment
    state:
      description:
        - C(complete), C(failed) or C(timeout); C(waiting) when the wait stopped early because another
          workload failed, or in check mode; C(missing) in check mode for a workload that does not exist.
      type: str
      sample: complete
    revision:
      description: Revision rolled out (Deployment revision, StatefulSet update revision, DaemonSet template
        generation).
      type: str
      sample: "3"
    reason:
      description: Failure reason (a container waiting reason, RestartThresholdExceeded, ProgressDeadlineExceeded,
        DeploymentPaused, UnsupportedUpdateStrategy, Deleted), or null.
      type: str
      sample: ImagePullBackOff
    message:
      description: The rollout status message, or the failure message.
      type: str
      sample: successfully rolled out
    hint:
      description: Why a waiting or timed-out workload does not progress, when a pod or its latest Warning event
        says so (e.g. Unschedulable, FailedCreatePodSandBox).
      type: str
      returned: when known
    image:
      description: Image of the failing container, else the first container's image.
      type: str
      sample: 127.0.0.1:5000/ia/backend:1.4.0
    images:
      description: Images of the pod template.
      type: list
      elements: str
    replicas:
      description: Desired, updated, ready and available pod counts.
      type: dict
      sample: {desired: 2, updated: 2, ready: 2, available: 2}
    durations:
      description: Seconds from the start of the wait until the first pod of the new revision was Ready
        (first_ready_s) and until the rollout was complete (complete_s); null when it did not happen.
      type: dict
      sample: {first_ready_s: 4.1, complete_s: 9.8}
    failing_pods:
      description: Pods of the new revision with a confirmed failure.
      type: list
      elements: dict
      contains:
        name:
          description: Pod name.
          type: str
        container:
          description: Container name.
          type: str
        reason:
          description: Waiting reason or RestartThresholdExceeded.
          type: str
        message:
          description: Kubernetes' message, with the last pull error or the last exit code.
          type: str
        restarts:
          description: Restart count of the container.
          type: int
        image:
          description: Image of the container.
          type: str
        for_s:
          description: Seconds the failure had persisted when it was confirmed.
          type: float
        log_tail:
          description: Last log lines of the container (of the previous instance after a crash).
          type: list
          elements: str
        log_error:
          description: Why the log could not be read.
          type: str
          returned: when reading the log failed
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.intelligent_agent.platform.plugins.module_utils import k8s_module
from ansible_collections.intelligent_agent.platform.plugins.module_utils.content import redact_strings
from ansible_collections.intelligent_agent.platform.plugins.module_utils.rollout import KINDS
from ansible_collections.intelligent_agent.platform.plugins.module_utils.rollout_waiter import (
    RolloutWaiter,
    WaitError,
)


def argument_spec():
    return k8s_module.argument_spec(
        namespace=dict(type="str", required=True),
        names=dict(type="list", elements="str", aliases=["name"]),
        selector=dict(type="str"),
        kinds=dict(type="list", elements="str", choices=list(KINDS), default=["Deployment"]),
        timeout=dict(type="int", default=300),
        grace=dict(type="float", default=5),
        transient_grace=dict(type="float", default=30),
        restart_threshold=dict(type="int", default=3),
        log_lines=dict(type="int", default=20),
        redact_values=dict(type="list", elements="str", default=[], no_log=True),
        stop_on_failure=dict(type="bool", default=True),
        progress_file=dict(type="path"),
    )


class ProgressFile(object):
    """Appends progress lines to a file the action plugin tails; silently does nothing without one."""

    def __init__(self, path, secrets=None):
        self.secrets = secrets or []
        self.handle = None
        if path:
            try:
                self.handle = open(path, "a")
            except (IOError, OSError):
                self.handle = None

    def __call__(self, line):
        if self.handle:
            try:
                self.handle.write(redact_strings(line, self.secrets).replace("\n", " ") + "\n")
                self.handle.flush()
            except (IOError, OSError, ValueError):
                pass

    def close(self):
        if self.handle:
            self.handle.close()


def module_spec():
    return dict(
        argument_spec=argument_spec(),
        required_one_of=[["names", "selector"]],
        mutually_exclusive=[["names", "selector"]],
        supports_check_mode=True,
    )


def run(module):
    params = module.params
    if params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1 second, got %s" % params["timeout"])
    for option in ("restart_threshold", "log_lines"):
        if params[option] < 0:
            module.fail_json(msg="%s must be 0 or more, got %s" % (option, params[option]))
    if params["grace"] < 0 or params["transient_grace"] < 0:
        module.fail_json(msg="grace and transient_grace must be 0 or more")
    if params["names"] is not None and not [n for n in params["names"] if n]:
        module.fail_json(msg="names must list at least one workload name")

    api_client = k8s_module.raw_client_or_fail(module)

    progress = ProgressFile(params["progress_file"], params["redact_values"])
    waiter = RolloutWaiter(
        api_client,
        namespace=params["namespace"],
        kinds=params["kinds"],
        names=[n for n in (params["names"] or []) if n],
        selector=params["selector"],
        timeout=params["timeout"],
        grace=params["grace"],
        transient_grace=params["transient_grace"],
        restart_threshold=params["restart_threshold"],
        log_lines=params["log_lines"],
        stop_on_failure=params["stop_on_failure"],
        progress=progress,
    )
    secrets = params["redact_values"]
    try:
        result = waiter.run(check_mode=module.check_mode)
    except WaitError as exc:
        module.fail_json(msg=redact_strings(str(exc), secrets), workloads=[], failed_workloads=exc.names)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(
            msg=redact_strings("rollout_wait failed unexpectedly: %s" % exc, secrets),
            exception=redact_strings(traceback.format_exc(), secrets),
        )
    finally:
        progress.close()

    # Crash logs and messages may hold what a container printed of its environment.
    result = redact_strings(result, secrets)
    if result.pop("failed"):
        module.fail_json(changed=False, **result)
    if module.check_mode and result["failed_workloads"]:
        module.warn("check mode: %s" % result["msg"])
    module.exit_json(changed=False, **result)


def main():
    run(AnsibleModule(**module_spec()))


if __name__ == "__main__":
    main()
