# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkPolicy filters the namespace and monitoring roles need. Thin wrappers over
plugins/module_utils/network_policy.py; each filter is documented in the YAML file of the same name
beside this one (ansible-doc -t filter intelligent_agent.platform.<name>)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.intelligent_agent.platform.plugins.module_utils.network_policy import (
    NetworkPolicyError,
    external_ip_blocks as _external_ip_blocks,
)


def external_ip_blocks(cidrs, cluster_cidrs, cidrs_name="allowed CIDRs", cluster_name="cluster CIDRs"):
    try:
        return _external_ip_blocks(cidrs, cluster_cidrs, cidrs_name, cluster_name)
    except NetworkPolicyError as exc:
        raise AnsibleFilterError("external_ip_blocks: %s" % exc)


class FilterModule(object):
    """intelligent_agent.platform NetworkPolicy filters."""

    def filters(self):
        return {"external_ip_blocks": external_ip_blocks}
