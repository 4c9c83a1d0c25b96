"""A module's code run in the controller behaves as the module: arguments checked against its spec,
check mode, warnings, no_log values kept out of the result, and the fallback to the module where the
controller's process would differ from the module's."""

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from ansible.module_utils.common.json import Direction

from ansible_collections.intelligent_agent.platform.plugins.module_utils import k8s_module
from ansible_collections.intelligent_agent.platform.plugins.plugin_utils import controller_module as cm

MODULES = sorted(p.stem for p in Path(cm.__file__).parents[1].joinpath("modules").glob("*.py") if p.stem != "__init__")


class FakeModuleCode:
    """A module of the collection's shape: module_spec() and run(module)."""

    def __init__(self, body, supports_check_mode=True, **rules):
        self.body = body
        self.spec = dict(
            argument_spec=dict(
                name=dict(type="str", required=True),
                count=dict(type="int", default=1),
                token=dict(type="str", no_log=True),
                mode=dict(type="str", choices=["a", "b"], default="a"),
            ),
            supports_check_mode=supports_check_mode,
            **rules,
        )

    def module_spec(self):
        return self.spec

    def run(self, module):
        self.body(module)


def test_exit_json_gives_the_validated_params_and_check_and_diff_modes():
    def body(module):
        module.exit_json(params=module.params, check=module.check_mode, diff=module._diff)

    result = cm.run_module_code(FakeModuleCode(body), {"name": "web", "count": "3"}, check_mode=True, diff=True)
    assert result["changed"] is False
    assert result["params"] == {"name": "web", "count": 3, "token": None, "mode": "a"}
    assert (result["check"], result["diff"]) == (True, True)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({}, "name"),
        ({"name": "web", "count": "many"}, "count"),
        ({"name": "web", "mode": "c"}, "mode"),
        ({"name": "web", "colour": "red"}, "colour"),
    ],
)
def test_bad_arguments_fail_naming_the_option_before_the_module_runs(args, named):
    ran = []
    result = cm.run_module_code(FakeModuleCode(ran.append), args, check_mode=False, diff=False)
    assert result["failed"] is True
    assert named in result["msg"]
    assert ran == []


def test_the_spec_rules_are_applied():
    code = FakeModuleCode(lambda module: module.exit_json(), required_if=[("mode", "b", ["token"])])
    result = cm.run_module_code(code, {"name": "web", "mode": "b"}, check_mode=False, diff=False)
    assert result["failed"] is True
    assert "token" in result["msg"]


def test_no_log_values_never_reach_the_result_and_warnings_are_kept():
    def body(module):
        module.warn("careful with %s" % module.params["token"])
        module.fail_json(msg="login with %s refused" % module.params["token"], echoed=module.params["token"])

    result = cm.run_module_code(
        FakeModuleCode(body), {"name": "web", "token": "s3cr3t-value"}, check_mode=False, diff=False
    )
    assert result["failed"] is True
    assert "s3cr3t-value" not in repr(result)
    assert result["warnings"] == ["careful with ********"]


def test_a_module_catching_exception_does_not_catch_its_own_exit():
    def body(module):
        try:
            module.exit_json(changed=True, step="done")
        except Exception:  # noqa: BLE001 - what a module may do around its work
            module.fail_json(msg="caught the exit")

    result = cm.run_module_code(FakeModuleCode(body), {"name": "web"}, check_mode=False, diff=False)
    assert result == {"changed": True, "step": "done"}


def test_check_mode_is_skipped_when_the_module_does_not_support_it():
    ran = []
    result = cm.run_module_code(
        FakeModuleCode(ran.append, supports_check_mode=False), {"name": "web"}, check_mode=True, diff=False
    )
    assert result["skipped"] is True
    assert ran == []


def test_a_module_that_returns_without_exiting_is_a_failure():
    result = cm.run_module_code(FakeModuleCode(lambda module: None), {"name": "web"}, check_mode=False, diff=False)
    assert result["failed"] is True


def test_results_make_the_modules_json_round_trip():
    value = {"names": ("a", "b"), "nested": {"n": 1, "ok": True, "none": None}}
    assert cm.as_module_json(value, Direction.MODULE_TO_CONTROLLER) == {
        "names": ["a", "b"],
        "nested": {"n": 1, "ok": True, "none": None},
    }


def fake_action(connection="local", become=False, async_val=0, environment=None):
    action = cm.ControllerModuleAction.__new__(cm.ControllerModuleAction)
    action._task = SimpleNamespace(async_val=async_val, environment=environment or [])
    action._play_context = SimpleNamespace(become=become)
    action._connection = SimpleNamespace(transport=connection, _load_name=connection)
    action._templar = SimpleNamespace(template=lambda value: value)
    return action


@pytest.mark.parametrize(
    ("action", "task_vars", "in_controller"),
    [
        (fake_action(), {}, True),
        (fake_action(connection="ansible.builtin.local"), {"ansible_python_interpreter": sys.executable}, True),
        (fake_action(connection="ssh"), {}, False),
        (fake_action(become=True), {}, False),
        (fake_action(async_val=30), {}, False),
        (fake_action(environment=[{"K8S_AUTH_CONTEXT": "prod"}]), {}, False),
        (fake_action(environment=[{}]), {}, True),
        (fake_action(), {"ansible_python_interpreter": "/opt/other/bin/python3"}, False),
        (fake_action(), {"ansible_python_interpreter": "python3"}, False),
    ],
)
def test_the_code_runs_in_the_controller_only_where_its_process_is_the_modules(action, task_vars, in_controller):
    assert action._runs_in_controller(task_vars) is in_controller


@pytest.mark.parametrize("name", MODULES)
def test_every_module_runs_through_its_controller_action(name):
    action = importlib.import_module("ansible_collections.intelligent_agent.platform.plugins.action." + name)
    code = importlib.import_module(cm.COLLECTION_MODULES + name)
    assert issubclass(action.ActionModule, cm.ControllerModuleAction)
    assert action.ActionModule.MODULE == name
    assert "argument_spec" in code.module_spec()
    assert callable(code.run)


def test_a_module_that_needs_its_own_process_stops_before_its_work():
    done = []

    def body(module):
        module.run_in_module_process()
        done.append("request")

    assert cm.run_module_code(FakeModuleCode(body), {"name": "web"}, check_mode=False, diff=False) is None
    assert done == []


def test_a_connection_only_the_kubernetes_client_makes_asks_for_a_module_process():
    module = cm.ControllerModule({"kubeconfig": {"users": []}}, argument_spec=k8s_module.argument_spec())
    with pytest.raises(cm.RunInModuleProcess):
        k8s_module.raw_client_or_fail(module)
