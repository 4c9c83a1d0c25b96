"""The promotion workflow and its notification template as code (awx/vars/workflows.yml, awx/configure.yml).

Two levels, both offline:
- the data: the graph (staging deploy -> approval -> production deploy, nothing after a failed staging
  deploy), the survey (valid for AWX, digests and version asked once and reaching both deploys), the
  notification template (attached to success, error and approvals, its secret a variable, never a
  literal), and the AWX-rendered message bodies (JSON);
- the tasks: awx/configure.yml's notification and workflow tasks rendered by Ansible's own templar with
  these vars (as the play would run them), then validated against the bundled awx.awx modules: their
  argument spec (types, choices, unknown options) and their documented workflow_nodes suboptions.
"""

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from test_job_templates import DATA as JOB_TEMPLATE_DATA, _AnsibleSafeLoader, validate_survey_spec

ROOT = Path(__file__).resolve().parents[3]
AWX_DIR = ROOT / "awx"
WORKFLOWS_FILE = AWX_DIR / "vars" / "workflows.yml"
CONFIGURE = AWX_DIR / "configure.yml"

with WORKFLOWS_FILE.open(encoding="utf-8") as _handle:
    DATA = yaml.load(_handle, Loader=_AnsibleSafeLoader)

WORKFLOWS = DATA["awx_workflow_job_templates"]
WORKFLOW = WORKFLOWS[0]
JOB_TEMPLATES = {template["name"]: template for template in JOB_TEMPLATE_DATA["awx_job_templates"]}
NOTIFICATIONS = {template["name"]: template for template in DATA["awx_notification_templates"]}
STAGING_DEPLOY = "Intelligent Agent | staging | Deploy"
PRODUCTION_DEPLOY = "Intelligent Agent | production | Deploy"
LINKS = ("success_nodes", "failure_nodes", "always_nodes")
JINJA_VARIABLE = re.compile(r"^\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}$")


def _nodes(workflow):
    return {node["identifier"]: node for node in workflow["workflow_nodes"]}


def _children(node, link):
    return [child["identifier"] for child in (node.get("related") or {}).get(link) or []]


def _parents(workflow, identifier):
    """(parent identifier, link) pairs that lead to `identifier`."""
    return [
        (node["identifier"], link)
        for node in workflow["workflow_nodes"]
        for link in LINKS
        if identifier in _children(node, link)
    ]


def _survey_variables(template):
    return {question["variable"]: question for question in template["survey"]["spec"]}


def _job_template_nodes(workflow):
    return [node for node in workflow["workflow_nodes"] if node["unified_job_template"]["type"] == "job_template"]


# --- the graph ------------------------------------------------------------------------------------


def test_workflow_nodes_are_unique_and_every_link_points_at_a_node():
    for workflow in WORKFLOWS:
        identifiers = [node["identifier"] for node in workflow["workflow_nodes"]]
        assert len(identifiers) == len(set(identifiers)), f"{workflow['name']}: duplicated node identifiers"
        for node in workflow["workflow_nodes"]:
            # awx.awx.workflow_job_template reads these keys unconditionally.
            assert node["unified_job_template"]["name"] and node["unified_job_template"]["type"], node["identifier"]
            for link in LINKS:
                for child in _children(node, link):
                    assert child in identifiers, f"{node['identifier']}.{link} -> unknown node {child}"


def test_staging_deploy_then_approval_then_production_deploy():
    nodes = _nodes(WORKFLOW)
    roots = [identifier for identifier in nodes if not _parents(WORKFLOW, identifier)]
    assert len(roots) == 1, f"one entry point expected, got {roots}"
    staging = nodes[roots[0]]
    assert staging["unified_job_template"] == {
        **staging["unified_job_template"],
        "name": STAGING_DEPLOY,
        "type": "job_template",
    }

    assert len(_children(staging, "success_nodes")) == 1
    approval = nodes[_children(staging, "success_nodes")[0]]
    assert approval["unified_job_template"]["type"] == "workflow_approval"

    assert len(_children(approval, "success_nodes")) == 1
    production = nodes[_children(approval, "success_nodes")[0]]
    assert production["unified_job_template"]["name"] == PRODUCTION_DEPLOY
    assert production["unified_job_template"]["type"] == "job_template"
    # Production is reached only through an approved approval, from nowhere else.
    assert _parents(WORKFLOW, production["identifier"]) == [(approval["identifier"], "success_nodes")]
    assert len(nodes) == 3


def test_a_failed_staging_deploy_or_a_denied_approval_runs_nothing_else():
    nodes = _nodes(WORKFLOW)
    for node in nodes.values():
        if node["unified_job_template"]["name"] == PRODUCTION_DEPLOY:
            continue
        assert not _children(node, "failure_nodes"), f"{node['identifier']} continues after a failure"
        assert not _children(node, "always_nodes"), f"{node['identifier']} continues whatever happens"


def test_approval_has_a_timeout_and_says_what_to_check():
    approvals = [
        node for node in WORKFLOW["workflow_nodes"] if node["unified_job_template"]["type"] == "workflow_approval"
    ]
    assert len(approvals) == 1
    approval = approvals[0]["unified_job_template"]
    assert approval["description"].strip() and "production" in approval["description"]
    timeout = approval["timeout"]
    if isinstance(timeout, str):
        assert JINJA_VARIABLE.match(timeout.strip()), timeout
        timeout = DATA[JINJA_VARIABLE.match(timeout.strip()).group(1)]
    assert isinstance(timeout, int) and 0 < timeout <= 7 * 86400, "0 would wait forever"


# --- variables on launch --------------------------------------------------------------------------


def test_workflow_survey_is_valid_for_awx():
    for workflow in WORKFLOWS:
        assert validate_survey_spec(workflow["survey"]) == []


def test_version_and_image_digests_are_asked_once_and_reach_both_deploys():
    questions = _survey_variables(WORKFLOW)
    for variable in ("platform_version", "platform_images"):
        assert questions[variable]["required"] is True, f"{variable} must be answered at launch"
        assert questions[variable].get("default", "") == ""
        assert questions[variable]["min"] >= 1
    assert questions["platform_images"]["type"] == "textarea"
    assert "sha256" in questions["platform_images"]["question_description"]
    # Only the survey gets in: extra vars that bypass it could differ between the two deploys.
    assert WORKFLOW["ask_variables_on_launch"] is False
    deploys = _job_template_nodes(WORKFLOW)
    assert {node["unified_job_template"]["name"] for node in deploys} == {STAGING_DEPLOY, PRODUCTION_DEPLOY}
    for node in deploys:
        template = JOB_TEMPLATES[node["unified_job_template"]["name"]]
        assert {"platform_version", "platform_images"} <= set(_survey_variables(template)), template["name"]
        # AWX passes the workflow's extra vars to every job-template node; a node must not pin its own.
        assert not {"platform_version", "platform_images", "platform_components"} & set(node.get("extra_data") or {})


def test_every_required_answer_of_a_node_is_given():
    """AWX refuses to start a node whose job template survey lacks a required answer without default."""
    workflow_answers = set(_survey_variables(WORKFLOW))
    for node in _job_template_nodes(WORKFLOW):
        template = JOB_TEMPLATES[node["unified_job_template"]["name"]]
        given = workflow_answers | set(node.get("extra_data") or {})
        for variable, question in _survey_variables(template).items():
            if question["required"] and question.get("default", "") in ("", None):
                assert variable in given, f"{node['identifier']}: {template['name']} needs {variable}"
        for variable in node.get("extra_data") or {}:
            # Node extra_data is accepted only for survey variables (the templates do not ask for vars).
            assert variable in _survey_variables(template), f"{node['identifier']}: AWX ignores extra_data {variable}"


def test_the_approval_is_the_production_confirmation():
    for node in _job_template_nodes(WORKFLOW):
        extra = node.get("extra_data") or {}
        if node["unified_job_template"]["name"] == PRODUCTION_DEPLOY:
            assert extra.get("deploy_confirm") == "yes", "production would refuse the unconfirmed deploy"
            assert _parents(WORKFLOW, node["identifier"])[0][0] in {
                n["identifier"]
                for n in WORKFLOW["workflow_nodes"]
                if n["unified_job_template"]["type"] == "workflow_approval"
            }
        else:
            assert "deploy_confirm" not in extra


def test_both_deploys_run_the_same_collection_revision():
    """Jobs run the project checkout: the workflow's scm_branch must reach both deploy templates."""
    assert WORKFLOW["ask_scm_branch_on_launch"] is True
    assert JOB_TEMPLATE_DATA["awx_project"]["allow_override"] is True, "AWX refuses a branch override otherwise"
    for node in _job_template_nodes(WORKFLOW):
        assert JOB_TEMPLATES[node["unified_job_template"]["name"]].get("ask_scm_branch_on_launch") is True
        assert "scm_branch" not in node, "a node's own branch would differ from the other deploy's"


# --- notifications --------------------------------------------------------------------------------


def test_notification_is_attached_to_success_error_and_approvals():
    for event in ("success", "error", "approvals"):
        names = WORKFLOW["notifications"][event]
        assert names, f"no notification on {event}"
        assert set(names) <= set(NOTIFICATIONS), f"{event}: unknown notification template {names}"


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


SECRET_LOOKING = re.compile(
    r"https?://[^/\s:@]+:[^/\s@]+@"  # URL credentials
    r"|hooks\.slack\.com/services/[A-Za-z0-9]"  # a Slack incoming webhook
    r"|webhook\.office\.com/webhookb2/[A-Za-z0-9]"  # a Teams incoming webhook
    r"|xox[abpr]-[A-Za-z0-9-]{8,}"  # a Slack token
    r"|ghp_[A-Za-z0-9]{20,}",
)


def test_no_literal_secret_in_the_awx_data():
    for path in (WORKFLOWS_FILE, AWX_DIR / "vars" / "job_templates.yml", CONFIGURE):
        text = path.read_text(encoding="utf-8")
        assert not SECRET_LOOKING.search(text), f"{path.name} holds a secret-looking literal"


def test_notification_secrets_come_from_variables_that_default_to_empty():
    for template in NOTIFICATIONS.values():
        config = template["notification_configuration"]
        assert template["notification_type"] in ("webhook", "slack")
        secret_fields = {"url", "token", "password"} & set(config)
        assert secret_fields, "the notification must name where its secret comes from"
        for field in secret_fields:
            match = JINJA_VARIABLE.match(str(config[field]).strip())
            assert match, f"{template['name']}: {field} must be a variable (vault / -e @secrets), not a literal"
            assert DATA.get(match.group(1), "") in ("", None), f"{match.group(1)} must not default to a value"
            # Created only when that secret is given.
            assert match.group(1) in template["enabled"]
        for header, value in (config.get("headers") or {}).items():
            assert header.lower() not in ("authorization", "x-api-key") or JINJA_VARIABLE.match(str(value).strip())


def test_notification_task_hides_its_secret():
    plays = yaml.safe_load(CONFIGURE.read_text(encoding="utf-8"))
    tasks = [task for task in plays[0]["tasks"] if "awx.awx.notification_template" in task]
    assert tasks and all(task.get("no_log") for task in tasks)


# The context AWX renders notification bodies with (JobNotificationMixin.context_stub, abridged).
AWX_CONTEXT = {
    "job": {"id": 42, "name": "Intelligent Agent | Promote staging to production", "status": "successful"},
    "job_friendly_name": "Workflow Job",
    "url": "https://awx.example.com/#/jobs/workflow/42",
    "approval_node_name": "Approve the production deploy",
    "approval_status": "pending",
    "workflow_url": "https://awx.example.com/#/jobs/workflow/42",
}


def _bodies(messages):
    for event, message in messages.items():
        if event == "workflow_approval":
            for status, approval_message in message.items():
                yield f"{event}.{status}", approval_message["body"]
        else:
            yield event, message["body"]


@pytest.mark.parametrize("name", list(NOTIFICATIONS))
def test_notification_bodies_render_to_json_with_text(name):
    messages = NOTIFICATIONS[name]["messages"]
    assert {"success", "error", "workflow_approval"} <= set(messages)
    assert {"running", "approved", "denied", "timed_out"} <= set(messages["workflow_approval"])
    environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for event, body in _bodies(messages):
        rendered = environment.from_string(body).render(AWX_CONTEXT)
        payload = json.loads(rendered)
        assert isinstance(payload, dict) and payload["text"].strip(), event


# --- configure.yml rendered with these vars, validated against the awx.awx modules -----------------


def _awx_module_source(module):
    spec = importlib.util.find_spec("ansible_collections.awx.awx")
    if spec is None:
        pytest.skip("awx.awx is not installed (it comes with the ansible package in requirements.txt)")
    return Path(list(spec.submodule_search_locations)[0], "plugins", "modules", f"{module}.py").read_text(
        encoding="utf-8"
    )


def _module_argument_spec(module):
    """The argument_spec main() builds (a dict(...) of literals), plus the controller connection options."""
    tree = ast.parse(_awx_module_source(module))
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    for node in ast.walk(main):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "argument_spec":
            spec = eval(compile(ast.Expression(node.value), module, "eval"), {"__builtins__": {}, "dict": dict})  # noqa: S307 - literals only
            break
    else:
        raise AssertionError(f"no argument_spec in awx.awx.{module}")
    from ansible_collections.awx.awx.plugins.module_utils.controller_api import ControllerModule

    return {**ControllerModule.AUTH_ARGSPEC, **spec}


def _doc_spec(options):
    """An argument spec from documented options, suboptions included."""
    spec = {}
    for name, option in options.items():
        entry = {key: option[key] for key in ("type", "elements", "choices", "aliases") if key in option}
        if "suboptions" in option:
            entry["options"] = _doc_spec(option["suboptions"])
        spec[name] = entry
    return spec


def _module_doc_spec(module):
    tree = ast.parse(_awx_module_source(module))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
            return _doc_spec(yaml.safe_load(node.value.value)["options"])
    raise AssertionError(f"no DOCUMENTATION in awx.awx.{module}")


def _validate(spec, params):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    result = ArgumentSpecValidator(spec).validate(params)
    return [str(error) for error in result.errors]


def rendered_tasks(module, **extra_vars):
    """[(task name, rendered module args)] of configure.yml's tasks using `module`, one per loop item."""
    pytest.importorskip("ansible")
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    loader = DataLoader()
    play = loader.load_from_file(str(CONFIGURE), trusted_as_template=True)[0]
    variables = {}
    for vars_file in play["vars_files"]:
        variables.update(loader.load_from_file(str(AWX_DIR / vars_file), trusted_as_template=True))
    variables.update(play["vars"])
    variables.update(extra_vars)
    rendered = []
    for task in play["tasks"]:
        if module not in task:
            continue
        task_vars = dict(variables, **(task.get("vars") or {}))
        for item in Templar(loader=loader, variables=task_vars).template(task.get("loop", [None])):
            templar = Templar(loader=loader, variables=dict(task_vars, item=item))
            if "when" in task and not templar.evaluate_conditional(task["when"]):
                continue
            rendered.append((task["name"], templar.template(task[module])))
    return rendered


WEBHOOK = "https://hooks.example.invalid/notify/0123"


@pytest.mark.parametrize("module", ["workflow_job_template", "notification_template", "job_template", "project"])
def test_rendered_tasks_pass_the_awx_modules_argument_validation(module):
    tasks = rendered_tasks(f"awx.awx.{module}", awx_notification_webhook_url=WEBHOOK)
    assert tasks, f"configure.yml has no awx.awx.{module} task"
    code_spec = _module_argument_spec(module)
    doc_spec = _module_doc_spec(module)
    for name, args in tasks:
        assert _validate(code_spec, args) == [], name
        assert _validate(doc_spec, args) == [], f"{name}: not as documented (suboptions)"


def test_rendered_workflow_carries_the_graph_survey_and_notifications():
    ((name, args),) = rendered_tasks("awx.awx.workflow_job_template", awx_notification_webhook_url=WEBHOOK)
    assert args["survey_enabled"] is True and validate_survey_spec(args["survey_spec"]) == []
    assert {"platform_version", "platform_images"} <= {q["variable"] for q in args["survey_spec"]["spec"]}
    assert args["ask_variables_on_launch"] is False and args["ask_scm_branch_on_launch"] is True
    notification = "Intelligent Agent | Release notifications"
    for event in ("success", "error", "approvals"):
        assert args[f"notification_templates_{event}"] == [notification], event
    approval = next(n for n in args["workflow_nodes"] if n["unified_job_template"]["type"] == "workflow_approval")
    assert (
        isinstance(approval["unified_job_template"]["timeout"], int) and approval["unified_job_template"]["timeout"] > 0
    )
    organizations = {n["unified_job_template"]["organization"]["name"] for n in _job_template_nodes(args)}
    assert organizations == {JOB_TEMPLATE_DATA["awx_organization"]}


def test_rendered_notification_carries_the_secret_only_in_its_configuration():
    ((name, args),) = rendered_tasks("awx.awx.notification_template", awx_notification_webhook_url=WEBHOOK)
    assert args["notification_configuration"]["url"] == WEBHOOK
    # The AWX-side Jinja of the bodies stays unrendered by Ansible (!unsafe).
    assert "{{ job.id }}" in args["messages"]["success"]["body"]
    flat = json.dumps({key: value for key, value in args.items() if key != "notification_configuration"})
    assert WEBHOOK not in flat


def test_without_a_webhook_nothing_is_created_or_attached():
    assert rendered_tasks("awx.awx.notification_template") == []
    ((name, args),) = rendered_tasks("awx.awx.workflow_job_template")
    for event in ("success", "error", "approvals"):
        assert args[f"notification_templates_{event}"] == []
    assert _validate(_module_argument_spec("workflow_job_template"), args) == []


def test_validation_catches_a_wrong_option():
    """The checks above can fail: a misspelt node option or a wrong type is reported."""
    ((name, args),) = rendered_tasks("awx.awx.workflow_job_template")
    broken = json.loads(json.dumps(args))
    broken["workflow_nodes"][0]["extra_vars"] = {"x": 1}
    assert any("extra_vars" in error for error in _validate(_module_doc_spec("workflow_job_template"), broken))
    broken = dict(args, allow_simultaneous="sometimes")
    assert _validate(_module_argument_spec("workflow_job_template"), broken)
