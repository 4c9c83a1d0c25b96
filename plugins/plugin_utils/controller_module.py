# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one of the collection's modules inside the controller when the task runs there.

Every cluster module of this collection talks to an HTTP API; its task runs on the controller (connection
local), with the controller's own Python. Started as a module, each call pays a new interpreter and the
import of ansible.module_utils.basic (about 0.2 s, measured with ansible.builtin.ping) before its first
request, 15 times in a deploy. Here the same module code runs in the task's worker process instead, behind
an object with the part of AnsibleModule the modules use, and its arguments and result go through the same
JSON profile a module's would.

Anything that makes the controller's process differ from the module's falls back to the module:
another connection, become, async, a task `environment`, another Python interpreter, a module whose
imports fail here, or a connection only the kubernetes client makes (its temporary files, such as a client
key, are removed when its process exits; a worker never runs those exit handlers).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import json
import os
import sys

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.json import Direction, get_module_decoder, get_module_encoder
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

COLLECTION_MODULES = "ansible_collections.intelligent_agent.platform.plugins.modules."
PROFILE = "legacy"
LOCAL_CONNECTIONS = ("local", "ansible.builtin.local")


class ModuleExit(BaseException):
    """Raised by exit_json and fail_json. A BaseException, as the module's SystemExit is, so that a module's
    `except Exception` never catches its own exit."""

    def __init__(self, result):
        super(ModuleExit, self).__init__("module exited")
        self.result = result


class RunInModuleProcess(BaseException):
    """Raised by run_in_module_process(): this call must run as a module, in a process of its own."""


class ControllerModule:
    """The part of AnsibleModule the collection's modules use: params, check_mode, _diff, argument_spec,
    no_log_values, warn, exit_json and fail_json (which raise ModuleExit with the finished result)."""

    def __init__(self, args, check_mode=False, diff=False, argument_spec=None, supports_check_mode=False, **rules):
        self.argument_spec = argument_spec or {}
        self.check_mode = check_mode
        self._diff = diff
        self.supports_check_mode = supports_check_mode
        self._warnings = []
        validation = ArgumentSpecValidator(self.argument_spec, **rules).validate(args)
        self.no_log_values = validation._no_log_values
        self.params = validation.validated_parameters
        for warning in validation._warnings:
            self.warn("Both option %s and its alias %s are set." % (warning["option"], warning["alias"]))
        if validation.error_messages:
            self.fail_json(msg="; ".join(validation.error_messages))

    def warn(self, warning):
        self._warnings.append(warning)

    def run_in_module_process(self):
        """Stop here, before any request: the action runs the module in a process of its own instead."""
        raise RunInModuleProcess()

    def exit_json(self, **result):
        result.setdefault("changed", False)
        raise ModuleExit(self._finished(result))

    def fail_json(self, msg, **result):
        result.update(failed=True, msg=msg)
        raise ModuleExit(self._finished(result))

    def _finished(self, result):
        if self._warnings:
            result["warnings"] = list(self._warnings)
        # As AnsibleModule does: no value of a no_log option appears anywhere in the result.
        return remove_values(result, self.no_log_values)


def module_rules(module_spec):
    """Split a module's AnsibleModule keyword arguments into the validator's rules and the rest."""
    rules = dict(module_spec)
    return rules.pop("argument_spec", {}), rules.pop("supports_check_mode", False), rules


def run_module_code(module_code, args, check_mode, diff):
    """Run `module_code` (a module of this collection: module_spec() and run(module)) on `args`; its result, or
    None when the module asked to run in a process of its own."""
    argument_spec, supports_check_mode, rules = module_rules(module_code.module_spec())
    if check_mode and not supports_check_mode:
        return dict(skipped=True, changed=False, msg="this module does not support check mode")
    try:
        module = ControllerModule(
            args,
            check_mode=check_mode,
            diff=diff,
            argument_spec=argument_spec,
            supports_check_mode=supports_check_mode,
            **rules,
        )
        module_code.run(module)
    except ModuleExit as done:
        return done.result
    except RunInModuleProcess:
        return None
    return dict(failed=True, msg="the module ended without a result")


def as_module_json(value, direction):
    """`value` after the JSON round trip a module's arguments or result make (same types, same trust)."""
    text = json.dumps(value, cls=get_module_encoder(PROFILE, direction))
    return json.loads(text, cls=get_module_decoder(PROFILE, direction))


class ControllerModuleAction(ActionBase):
    """Action of a module of this collection (MODULE): runs its code here when the task runs on the
    controller, as the module otherwise."""

    TRANSFERS_FILES = False
    MODULE = None

    def run(self, tmp=None, task_vars=None):
        result = super(ControllerModuleAction, self).run(tmp, task_vars)
        del tmp
        return self.task_result(result, task_vars)

    def task_result(self, result, task_vars):
        """The task's result: `result` (ActionBase's) updated with the module's. Actions with more to do
        around the module override this."""
        result.update(self.run_module(dict(self._task.args), task_vars))
        return result

    def run_module(self, module_args, task_vars):
        module_code = self._module_code() if self._runs_in_controller(task_vars or {}) else None
        if module_code is None:
            return self._as_module(module_args, task_vars)
        args = as_module_json(module_args, Direction.CONTROLLER_TO_MODULE)
        result = run_module_code(module_code, args, bool(self._task.check_mode), bool(self._task.diff))
        if result is None:
            return self._as_module(module_args, task_vars)
        return as_module_json(result, Direction.MODULE_TO_CONTROLLER)

    def _as_module(self, module_args, task_vars):
        return self._execute_module(
            module_name="intelligent_agent.platform." + self.MODULE, module_args=module_args, task_vars=task_vars
        )

    def _module_code(self):
        try:
            return importlib.import_module(COLLECTION_MODULES + self.MODULE)
        except ImportError:
            return None

    def _runs_in_controller(self, task_vars):
        task = self._task
        if task.async_val or self._play_context.become or any(task.environment or []):
            return False
        return self._connection_is_local() and self._same_interpreter(task_vars)

    def _connection_is_local(self):
        """The task runs on the controller (connection local, delegate_to localhost, AWX/ansible-runner jobs)."""
        connection = self._connection
        names = (getattr(connection, "transport", None), getattr(connection, "_load_name", None))
        return any(name in LOCAL_CONNECTIONS for name in names if name)

    def _same_interpreter(self, task_vars):
        interpreter = task_vars.get("ansible_python_interpreter")
        if not interpreter:
            return True
        interpreter = self._templar.template(interpreter)
        if not isinstance(interpreter, str) or not os.path.isabs(interpreter):
            return False
        return os.path.realpath(interpreter) == os.path.realpath(sys.executable)
