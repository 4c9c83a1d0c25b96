# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for intelligent_agent.platform.cluster_query_info: the module's code runs in the controller when the
task runs there (plugin_utils/controller_module.py), as the module otherwise."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.intelligent_agent.platform.plugins.plugin_utils.controller_module import (
    ControllerModuleAction,
)


class ActionModule(ControllerModuleAction):
    MODULE = "cluster_query_info"
