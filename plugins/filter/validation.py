# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight validation filters: thin wrappers over plugins/module_utils/validation.py. Each filter is
documented in the YAML file of the same name beside this one (ansible-doc -t filter
intelligent_agent.platform.<name>)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.intelligent_agent.platform.plugins.module_utils import validation as _v


def input_problems(inputs):
    if not isinstance(inputs, (list, tuple)):
        raise AnsibleFilterError("input_problems: expected a list of {path, value, type} dicts")
    return _v.input_problems(list(inputs))


def component_problems(components, options, overrides=None, selected=None, load_balancer_component=None):
    if not isinstance(options, dict):
        raise AnsibleFilterError("component_problems: options must be the argument-spec options of a component")
    return _v.component_problems(
        components, options, overrides=overrides, selected=selected, load_balancer_component=load_balancer_component
    )


def access_checks(checks, namespace):
    try:
        return _v.access_checks(checks, namespace)
    except _v.ValidationError as exc:
        raise AnsibleFilterError("access_checks: %s" % exc)


def access_results(checks, reviews):
    if not isinstance(checks, (list, tuple)) or not isinstance(reviews, (list, tuple)):
        raise AnsibleFilterError("access_results: expected the access_checks list and the list of review results")
    return _v.access_results(list(checks), list(reviews))


class FilterModule(object):
    """intelligent_agent.platform preflight validation filters."""

    def filters(self):
        return {
            "input_problems": input_problems,
            "component_problems": component_problems,
            "access_checks": access_checks,
            "access_results": access_results,
        }
