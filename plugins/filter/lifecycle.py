# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render and uninstall filters (playbooks/render.yml, playbooks/uninstall.yml): thin wrappers over
plugins/module_utils/lifecycle.py. Each filter is documented in the YAML file of the same name beside
this one (ansible-doc -t filter intelligent_agent.platform.<name>)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from datetime import datetime, timezone

from ansible.errors import AnsibleFilterError

from ansible_collections.intelligent_agent.platform.plugins.module_utils import lifecycle as _l


def render_documents(manifests, secrets="redact"):
    try:
        return _l.render_documents(manifests, secrets)
    except _l.LifecycleError as exc:
        raise AnsibleFilterError("render_documents: %s" % exc)


def uninstall_plan(listings, part_of, keep=None, namespace_object=None, delete_namespace=False, named=None):
    try:
        return _l.uninstall_plan(
            listings,
            part_of,
            keep=keep or [],
            namespace_object=namespace_object or None,
            delete_namespace=bool(delete_namespace),
            now=datetime.now(timezone.utc),
            named=named or [],
        )
    except _l.LifecycleError as exc:
        raise AnsibleFilterError("uninstall_plan: %s" % exc)


class FilterModule(object):
    """intelligent_agent.platform render and uninstall filters."""

    def filters(self):
        return {
            "render_documents": render_documents,
            "uninstall_plan": uninstall_plan,
        }
