# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module of the collection that talks to the Kubernetes API shares: the connection options of
kubernetes.core (kubeconfig, context, host, api_key...) and one way to connect that fails with a clear message."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

from ansible_collections.intelligent_agent.platform.plugins.module_utils.kube_client import light_client


def argument_spec(**options):
    """kubernetes.core's connection options plus the module's own."""
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(options)
    return spec


def api_client_or_fail(module):
    """The kubernetes ApiClient for the module's connection options (as kubernetes.core connects: its options, then
    K8S_AUTH_*, in-cluster, kubeconfig); the module fails when it cannot connect or the library is missing."""
    # Run in the controller's worker (plugin_utils/controller_module.py), the kubernetes client's temporary files
    # (a client key from the kubeconfig) would outlive the task: such a connection runs in a module process.
    if hasattr(module, "run_in_module_process"):
        module.run_in_module_process()
    auth = dict((name, module.params[name]) for name in AUTH_ARG_SPEC if module.params.get(name) is not None)
    try:
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

        return get_api_client(**auth).client.client
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="cannot connect to the Kubernetes API: %s" % exc)


def raw_client_or_fail(module):
    """A client for raw JSON requests (``call_api``): the light client when the connection options allow it (no
    kubernetes import, about 0.3 s less per module call), else the kubernetes ApiClient."""
    return light_client(module.params) or api_client_or_fail(module)
