#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cluster_query_info
short_description: Ask the API server several read-only pre-flight questions in one call
version_added: 0.3.0
author: Intelligent Agent platform team (@intelligent-agent)
description:
  - Answers, in one module call, what a pre-flight needs before the first write. What these credentials may do
    (one SelfSubjectAccessReview per item of O(reviews)), whether named objects exist and whether their API is
    served at all (O(objects)), and which API groups the cluster serves (O(api_groups)).
  - Each cluster-calling task costs about 0.4 s, most of it starting a Python process. One call instead of one task
    per question is what keeps the deploy's pre-flight short.
  - Only reads. A SelfSubjectAccessReview is a create that the API server answers without storing anything.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.actiongroups
  - intelligent_agent.platform.k8s_module
attributes:
  check_mode:
    support: full
    details: The module only reads; check mode changes nothing.
  action:
    support: none
options:
  reviews:
    description:
      - The resourceAttributes of each SelfSubjectAccessReview to ask (verb, group, resource, namespace, name...).
    type: list
    elements: dict
    default: []
  objects:
    description:
      - Objects to look up, each with C(api_version), C(kind), C(name), and C(namespace) for a namespaced kind.
      - C(plural) names the resource when it is not the kind's regular plural.
    type: list
    elements: dict
    default: []
  api_groups:
    description: Also return the names of the API groups the cluster serves.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Ask what these credentials may do, whether the namespace exists and which API groups are served
  intelligent_agent.platform.cluster_query_info:
    reviews:
      - {verb: patch, group: apps, resource: deployments, namespace: intelligent-agent}
      - {verb: create, group: "", resource: namespaces}
    objects:
      - {api_version: v1, kind: Namespace, name: intelligent-agent}
    api_groups: true
  register: cluster
"""

RETURN = r"""
reviews:
  description: The answered SelfSubjectAccessReviews, in the order of O(reviews) (C(status.allowed) is the answer).
  returned: always
  type: list
  elements: dict
  sample:
    - {apiVersion: authorization.k8s.io/v1, kind: SelfSubjectAccessReview, status: {allowed: true}}
objects:
  description:
    - One answer per item of O(objects), in order. C(exists) is true, false, or null when it cannot be known
      (C(forbidden), or the API is not served). C(served) is false when the cluster does not serve the kind.
      C(object) is the live object when it exists.
  returned: always
  type: list
  elements: dict
  sample:
    - {api_version: v1, kind: Namespace, name: intelligent-agent, namespace: null, exists: true, served: true,
       forbidden: false, object: {}}
api_groups:
  description: Names of the API groups the cluster serves (with O(api_groups)), sorted.
  returned: always
  type: list
  elements: str
  sample: [apps, autoscaling, networking.k8s.io, policy]
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.intelligent_agent.platform.plugins.module_utils import k8s_module
from ansible_collections.intelligent_agent.platform.plugins.module_utils.cluster_query import (
    ClusterQuery,
    ClusterQueryError,
)


def argument_spec():
    return k8s_module.argument_spec(
        reviews=dict(type="list", elements="dict", default=[]),
        objects=dict(type="list", elements="dict", default=[]),
        api_groups=dict(type="bool", default=False),
    )


def object_problems(objects):
    """Items of O(objects) that lack a field, named by index, so the run stops with a clear error."""
    required = ("api_version", "kind", "name")
    return [
        "objects[%d] needs %s" % (index, ", ".join(field for field in required if not item.get(field)))
        for index, item in enumerate(objects)
        if not all(item.get(field) for field in required)
    ]


def ask(query, params):
    return {
        "reviews": [query.review(attributes) for attributes in params["reviews"]],
        "objects": [query.get(item) for item in params["objects"]],
        "api_groups": query.api_groups() if params["api_groups"] else [],
    }


def module_spec():
    return dict(argument_spec=argument_spec(), supports_check_mode=True)


def run(module):
    problems = object_problems(module.params["objects"])
    if problems:
        module.fail_json(msg="; ".join(problems))
    api_client = k8s_module.raw_client_or_fail(module)
    try:
        result = ask(ClusterQuery(api_client), module.params)
    except ClusterQueryError as exc:
        module.fail_json(msg="the Kubernetes API did not answer: %s" % exc)
    module.exit_json(changed=False, **result)


def main():
    run(AnsibleModule(**module_spec()))


if __name__ == "__main__":
    main()
