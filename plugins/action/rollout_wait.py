# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for intelligent_agent.platform.rollout_wait: live progress while the module waits.

When the task runs on the controller (connection local, delegate_to localhost, AWX/ansible-runner jobs),
the module appends progress lines ("backend 3/5 updated, 2/5 available") to a temporary file whose path
it gets as the internal option progress_file; a thread here tails that file and prints each new line
through Display, so they appear in the play output (and in AWX job output) as the rollout advances.
With another connection the module runs as usual and only its result is shown.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile
import threading

from ansible.utils.display import Display

from ansible_collections.intelligent_agent.platform.plugins.plugin_utils.controller_module import (
    ControllerModuleAction,
)

display = Display()


class ProgressTail(threading.Thread):
    """Prints every complete line appended to ``path`` until stopped, then whatever is left."""

    def __init__(self, path, prefix, interval=0.3):
        super(ProgressTail, self).__init__(name="rollout-wait-progress")
        self.daemon = True
        self.path = path
        self.prefix = prefix
        self.interval = interval
        self.offset = 0
        self.partial = b""
        self.stopped = threading.Event()

    def read_new(self, final=False):
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except (IOError, OSError):
            return
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = b"" if final else lines.pop()
        for line in lines:
            text = line.decode("utf-8", "replace").strip()
            if text:
                display.display("%s%s" % (self.prefix, text))

    def run(self):
        while not self.stopped.wait(self.interval):
            self.read_new()

    def finish(self):
        self.stopped.set()
        self.join(5)
        self.read_new(final=True)


class ActionModule(ControllerModuleAction):
    MODULE = "rollout_wait"

    def task_result(self, result, task_vars):
        module_args = dict(self._task.args)
        tail = path = None
        if self._connection_is_local() and not module_args.get("progress_file"):
            handle, path = tempfile.mkstemp(prefix="rollout-wait-", suffix=".progress")
            os.close(handle)
            module_args["progress_file"] = path
            host = (task_vars or {}).get("inventory_hostname", "localhost")
            tail = ProgressTail(path, "rollout_wait [%s]: " % host)
            tail.start()
        try:
            result.update(self.run_module(module_args, task_vars))
        finally:
            if tail is not None:
                tail.finish()
            if path is not None:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        return result
