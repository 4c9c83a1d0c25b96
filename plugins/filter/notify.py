# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release notification filter (roles/release/tasks/notify.yml): a thin wrapper over
plugins/module_utils/notify.py, documented in notification_payload.yml beside this file
(ansible-doc -t filter intelligent_agent.platform.notification_payload)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.intelligent_agent.platform.plugins.module_utils import notify as _n


def notification_payload(summary, event, format="json", text="", redact_values=None, run=None):  # pylint: disable=redefined-builtin
    try:
        return _n.notification_payload(summary, event, fmt=format, text=text, redact_values=redact_values, run=run)
    except _n.NotifyError as exc:
        raise AnsibleFilterError("notification_payload: %s" % exc)


class FilterModule(object):
    """intelligent_agent.platform notification filters."""

    def filters(self):
        return {"notification_payload": notification_payload}
