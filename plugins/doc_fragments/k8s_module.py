# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The attributes every module of the collection that talks to the Kubernetes API shares; each module still
    # documents its own check_mode and action support.
    DOCUMENTATION = r"""
options: {}
attributes:
  diff_mode:
    support: none
  platform:
    platforms: posix
  async:
    support: none
  bypass_host_loop:
    support: none
  action_group:
    support: full
    membership:
      - intelligent_agent.platform.k8s
"""
