#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: Take, free, check or break the deploy lock of an environment (a short, renewed Lease)
version_added: 0.2.0
author: Intelligent Agent platform team (@intelligent-agent)
description:
  - One deploy at a time per environment. The lock is a C(coordination.k8s.io/v1) Lease in the namespace; a run
    holds it while the Lease names it and was renewed less than O(duration) seconds ago.
  - O(state=acquired) takes the lock with a compare-and-swap on the Lease's resourceVersion (of two racing runs
    exactly one wins) or fails naming the holder, its version and when the lock expires. A lock whose holder
    stopped renewing it is taken over. The action plugin then starts a renewer on the controller that renews the
    Lease every third of O(duration) while the ansible-playbook process lives, and stops when it dies (Ctrl-C, an
    AWX cancel, SIGKILL), so that a killed run blocks the environment for at most one O(duration).
  - O(state=check) is the fence before a write, answered on the controller without an API call from the
    renewer's state; it fails when this run lost the lock (another run took it over, or it could not be renewed
    for a whole O(duration)).
  - O(state=released) frees the lock if this run holds it. The action plugin asks the run's renewer to do it
    (its API client is loaded already), and runs the module only when no renewer lives. O(state=broken) frees it
    whoever holds it (C(playbooks/unlock.yml), after a confirmation). O(state=status) only reads it.
  - An error reading or writing the Lease (for example a missing permission) fails with that error; it is
    never reported as a free lock.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.actiongroups
  - intelligent_agent.platform.k8s_module
attributes:
  check_mode:
    support: full
    details: In check mode nothing is written; O(state=acquired) reports whether the lock could be taken.
  action:
    support: full
    details: The action plugin starts and stops the lock renewer on the controller and answers O(state=check)
      there from the renewer's state.
options:
  namespace:
    description: Namespace of the Lease (the environment's namespace).
    type: str
    required: true
  name:
    description: Name of the Lease.
    type: str
    required: true
  state:
    description: What to do with the lock.
    type: str
    choices: [acquired, released, check, broken, status]
    default: acquired
  holder:
    description:
      - Identity of this run (user, host, run id). Required for O(state=acquired), O(state=released) and
        O(state=check).
    type: str
  duration:
    description: Seconds the lock stays valid after each renewal (C(leaseDurationSeconds)).
    type: int
    default: 60
  annotations:
    description: Facts about the run kept on the Lease while it holds the lock (version, commit, who).
    type: dict
    default: {}
  labels:
    description: Labels of the Lease besides the collection's own (for example C(app.kubernetes.io/part-of)).
    type: dict
    default: {}
  result:
    description: With O(state=released), how the run ended; kept on the Lease for the next run to read.
    type: str
    default: ""
  create_namespace:
    description: With O(state=acquired), create the namespace when it does not exist yet (first deploy by an admin).
    type: bool
    default: false
  renew:
    description: With O(state=acquired), start the renewer (handled by the action plugin).
    type: bool
    default: true
notes:
  - C(changed) is false when the lock is taken, renewed or freed by its own run (the Lease is bookkeeping, the
    platform does not change) and true when an operator breaks another run's lock.
  - Compared with Helm (a C(pending-*) release status that blocks the next upgrade until it is rolled back by
    hand) and kubernetes.core (no lock), a dead run's lock expires by itself within O(duration).
"""

EXAMPLES = r"""
- name: Take the deploy lock
  intelligent_agent.platform.deploy_lock:
    namespace: production
    name: intelligent-agent-deploy-lock
    holder: "alice@ci-runner/20261203T101500Z-4242"
    duration: 60
    annotations: {version: 1.4.0, commit: 3f2a9c1b7d0e}

- name: Stop before writing if this run lost the lock
  intelligent_agent.platform.deploy_lock:
    namespace: production
    name: intelligent-agent-deploy-lock
    holder: "alice@ci-runner/20261203T101500Z-4242"
    state: check

- name: Free the deploy lock
  intelligent_agent.platform.deploy_lock:
    namespace: production
    name: intelligent-agent-deploy-lock
    holder: "alice@ci-runner/20261203T101500Z-4242"
    state: released
    result: succeeded
"""

RETURN = r"""
held:
  description: Whether this run holds the lock after the task.
  returned: always
  type: bool
  sample: true
action:
  description: What O(state=acquired) did - C(create), C(take) (free or expired lock), C(keep) (already ours).
  returned: when O(state=acquired)
  type: str
  sample: take
lock:
  description: The lock as it was before the task.
  returned: always
  type: dict
  contains:
    holder:
      description: Run that held it (empty when free).
      type: str
    version:
      description: Version that run deployed.
      type: str
    age:
      description: Seconds since its last renewal.
      type: float
    expires_in:
      description: Seconds until it expires unless renewed (0 when free or expired).
      type: float
    expired:
      description: Free, or not renewed within its duration.
      type: bool
  sample: {holder: "bob@laptop/20261203T101000Z-17", version: 1.3.9, age: 75.2, expires_in: 0, expired: true}
released:
  description: With O(state=released), whether this run's lock was freed (false when another run holds it).
  returned: when O(state=released)
  type: bool
  sample: true
freed_by:
  description:
    - With O(state=released), who freed the lock. C(renewer) is the run's lock renewer, asked by the action plugin,
      which already has an API client loaded (one request). C(module) is the module, when no renewer lives, as
      after a lost lock.
  returned: when O(state=released)
  type: str
  sample: renewer
renewer:
  description: PID and state file of the renewer the action plugin started (not in check mode).
  returned: when O(state=acquired) and O(renew) is true
  type: dict
  sample: {pid: 31337, state_file: /tmp/intelligent-agent-platform-locks/5f0c.json}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.intelligent_agent.platform.plugins.module_utils import k8s_module
from ansible_collections.intelligent_agent.platform.plugins.module_utils.deploy_lock import (
    LeaseApi,
    LockError,
    LockHeld,
    acquire,
    acquire_action,
    break_lock,
    held_message,
    lease_view,
    release,
)


def argument_spec():
    return k8s_module.argument_spec(
        namespace=dict(type="str", required=True),
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["acquired", "released", "check", "broken", "status"], default="acquired"),
        holder=dict(type="str"),
        duration=dict(type="int", default=60),
        annotations=dict(type="dict", default={}),
        labels=dict(type="dict", default={}),
        result=dict(type="str", default=""),
        create_namespace=dict(type="bool", default=False),
        renew=dict(type="bool", default=True),
    )


def run_acquire(module, api, params):
    if not api.namespace_exists():
        if not params["create_namespace"]:
            module.fail_json(
                msg="namespace %s does not exist: an admin creates it once with "
                "playbooks/bootstrap.yml (or let an admin's deploy create it)." % params["namespace"],
                held=False,
                lock=lease_view(None, time.time()),
            )
        if module.check_mode:
            module.exit_json(changed=False, held=False, action="create", lock=lease_view(None, time.time()))
        try:
            api.create_namespace()
        except LockError as exc:
            module.fail_json(
                msg="namespace %s does not exist and these credentials cannot create it (%s): an admin "
                "creates it once with playbooks/bootstrap.yml." % (params["namespace"], exc),
                held=False,
                lock=lease_view(None, time.time()),
            )
    if module.check_mode:
        view = lease_view(api.read(), time.time())
        action = acquire_action(view, params["holder"])
        if action == "held":
            module.fail_json(msg=held_message(view, api.namespace, api.name), held=False, lock=view)
        module.exit_json(changed=False, held=False, action=action, lock=view)
    try:
        _lease, view, action = acquire(
            api, params["holder"], params["duration"], params["annotations"], params["labels"]
        )
    except LockHeld as exc:
        module.fail_json(msg=str(exc), held=False, lock=exc.view)
    module.exit_json(changed=False, held=True, action=action, lock=view)


def module_spec():
    return dict(
        argument_spec=argument_spec(),
        required_if=[
            ("state", "acquired", ["holder"]),
            ("state", "released", ["holder"]),
            ("state", "check", ["holder"]),
        ],
        supports_check_mode=True,
    )


def run(module):
    params = module.params
    if params["duration"] < 5:
        module.fail_json(msg="duration must be at least 5 seconds, got %s" % params["duration"])
    api_client = k8s_module.raw_client_or_fail(module)
    api = LeaseApi(api_client, params["namespace"], params["name"])

    try:
        state = params["state"]
        if state == "acquired":
            run_acquire(module, api, params)
        elif state == "released":
            if module.check_mode:
                module.exit_json(changed=False, held=False, lock=lease_view(api.read(), time.time()))
            released, view = release(api, params["holder"], params["result"])
            if not released and view["holder"]:
                module.warn("the deploy lock is held by %s, not by this run: left as it is" % view["holder"])
            module.exit_json(changed=False, held=False, released=released, lock=view)
        elif state == "broken":
            view = lease_view(api.read(), time.time())
            if module.check_mode or not view["holder"]:
                module.exit_json(changed=bool(view["holder"]), held=False, lock=view)
            view = break_lock(api)
            module.exit_json(changed=True, held=False, lock=view)
        else:  # status, and check when the action plugin has no renewer state (it answers itself otherwise)
            view = lease_view(api.read(), time.time())
            held = view["holder"] == params["holder"] and not view["expired"]
            if state == "check" and not held:
                module.fail_json(
                    msg="this run does not hold the deploy lock (holder: %s): stopping before the next "
                    "write" % (view["holder"] or "nobody"),
                    held=False,
                    lock=view,
                )
            module.exit_json(changed=False, held=held, lock=view)
    except LockError as exc:
        module.fail_json(msg=str(exc), held=False)


def main():
    run(AnsibleModule(**module_spec()))


if __name__ == "__main__":
    main()
