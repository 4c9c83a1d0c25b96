"""AWX job templates as code (awx/vars/job_templates.yml) and the playbook that creates them (awx/configure.yml).

Every survey spec is checked against the rules AWX's API applies when a survey is saved
(JobTemplateSurveySpec._validate_spec_data: name/description/spec, per-question type, question_name,
variable, required, default type, min/max, choices) plus the consistency AWX checks at launch
(text length and integer range of the default answer).
"""

import ast
import importlib.util
import keyword
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
AWX_DIR = ROOT / "awx"
DATA_FILE = AWX_DIR / "vars" / "job_templates.yml"
CONFIGURE = AWX_DIR / "configure.yml"

# The question types AWX accepts and the Python type of their default answer.
AWX_TYPES = {
    "text": str,
    "textarea": str,
    "password": str,
    "multiplechoice": str,
    "multiselect": str,
    "integer": int,
    "float": float,
}
VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENVIRONMENTS = ("local", "staging", "production")
KINDS = {"Deploy": "playbooks/deploy.yml", "Rollback": "playbooks/rollback.yml", "History": "playbooks/history.yml"}


class _AnsibleSafeLoader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's !unsafe tag as a plain string."""


_AnsibleSafeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_data():
    with DATA_FILE.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_AnsibleSafeLoader)


def _choices(question):
    choices = question["choices"]
    if isinstance(choices, str):
        choices = [line for line in choices.splitlines() if line.strip()]
    return choices


def _check_limits(idx, question, errors):
    """min/max must be integers (AWX); text lengths and numbers must fit them (launch-time checks)."""
    qtype = question["type"]
    for key in ("min", "max"):
        if (
            key in question
            and question[key] is not None
            and (isinstance(question[key], bool) or not isinstance(question[key], int))
        ):
            errors.append(f"question {idx}: {key} must be an integer")
    if qtype in ("text", "textarea", "password", "integer", "float"):
        if not isinstance(question.get("min"), int) or not isinstance(question.get("max"), int):
            errors.append(f"question {idx}: {qtype} questions need integer min and max")
            return
        if question["min"] > question["max"]:
            errors.append(f"question {idx}: min {question['min']} > max {question['max']}")
        default = question.get("default", "")
        if default in ("", None):
            return
        measure = len(default) if qtype in ("text", "textarea", "password") else default
        if not question["min"] <= measure <= question["max"]:
            errors.append(f"question {idx}: default {default!r} outside min {question['min']} / max {question['max']}")


def _check_choices(idx, question, errors):
    qtype = question["type"]
    if qtype not in ("multiplechoice", "multiselect"):
        if "choices" in question and question["choices"] not in ("", [], None):
            errors.append(f"question {idx}: choices only apply to multiplechoice/multiselect")
        return
    if "choices" not in question:
        errors.append(f"question {idx}: type {qtype} must specify choices")
        return
    choices = _choices(question)
    if not choices or not all(isinstance(choice, str) and choice.strip() for choice in choices):
        errors.append(f"question {idx}: choices must be non-empty strings")
    if len(set(choices)) != len(choices):
        errors.append(f"question {idx}: duplicated choices")
    if "default" in question and question["default"] not in ("", None):
        default = question["default"]
        defaults = (
            [line for line in default.splitlines() if line.strip()] if isinstance(default, str) else list(default)
        )
        if qtype == "multiplechoice" and len(defaults) > 1:
            errors.append(f"question {idx}: multiplechoice can only have one default")
        if any(item not in choices for item in defaults):
            errors.append(f"question {idx}: default must be one of the choices")


def validate_survey_spec(survey):
    """Return the list of problems AWX (or a launch with the defaults) would report; empty when valid."""
    errors = []
    if not isinstance(survey, dict):
        return ["survey spec must be a mapping"]
    for field, expected in (("name", str), ("description", str), ("spec", list)):
        if field not in survey:
            errors.append(f"field '{field}' is missing from survey spec")
        elif not isinstance(survey[field], expected):
            errors.append(f"field '{field}' must be {expected.__name__}")
    if errors:
        return errors
    if not survey["spec"]:
        return ["'spec' doesn't contain any items"]
    variables = set()
    for idx, question in enumerate(survey["spec"]):
        if not isinstance(question, dict):
            errors.append(f"question {idx} is not a mapping")
            continue
        missing = [field for field in ("type", "question_name", "variable", "required") if field not in question]
        if missing:
            errors.append(f"question {idx}: missing: {', '.join(missing)}")
            continue
        for field in ("type", "question_name", "variable"):
            if not isinstance(question[field], str) or not question[field].strip():
                errors.append(f"question {idx}: '{field}' must be a non-empty string")
        if not isinstance(question["required"], bool):
            errors.append(f"question {idx}: 'required' must be a boolean")
        if not isinstance(question.get("question_description", ""), str):
            errors.append(f"question {idx}: 'question_description' must be a string")
        variable = question["variable"]
        if not isinstance(variable, str) or not VARIABLE_RE.match(variable) or keyword.iskeyword(variable):
            errors.append(f"question {idx}: variable {variable!r} is not a valid Ansible variable name")
        elif variable in variables:
            errors.append(f"question {idx}: variable '{variable}' duplicated")
        variables.add(variable)
        qtype = question["type"]
        if qtype not in AWX_TYPES:
            errors.append(f"question {idx}: type {qtype!r} is not one of {', '.join(AWX_TYPES)}")
            continue
        default = question.get("default", "")
        if default not in ("", None):
            expected = AWX_TYPES[qtype]
            if isinstance(default, bool) or not isinstance(default, expected):
                errors.append(f"question {idx}: default {default!r} must be {expected.__name__} for type {qtype}")
                continue
            if isinstance(default, str) and default.startswith("$encrypted$"):
                errors.append(f"question {idx}: $encrypted$ is reserved for password defaults AWX stored")
        _check_limits(idx, question, errors)
        _check_choices(idx, question, errors)
    return errors


DATA = load_data()
TEMPLATES = DATA["awx_job_templates"]


def _by(environment, kind):
    return next(t for t in TEMPLATES if t["name"] == f"Intelligent Agent | {environment} | {kind}")


def _questions(template):
    return {question["variable"]: question for question in template["survey"]["spec"]}


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_survey_spec_is_valid_for_awx(template):
    assert validate_survey_spec(template["survey"]) == []


def test_one_template_per_environment_and_kind():
    names = [template["name"] for template in TEMPLATES]
    assert len(names) == len(set(names)), "duplicated job template names"
    expected = {f"Intelligent Agent | {env} | {kind}" for env in ENVIRONMENTS for kind in KINDS}
    assert set(names) == expected
    for template in TEMPLATES:
        kind = template["name"].rsplit(" | ", 1)[1]
        assert template["playbook"] == KINDS[kind], template["name"]
        assert template["environment"] in template["name"]
        assert template["description"].strip()
    assert [env["name"] for env in DATA["awx_environments"]] == list(ENVIRONMENTS)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_deploy_requires_a_version_without_default(environment):
    version = _questions(_by(environment, "Deploy"))["platform_version"]
    assert version["required"] is True
    assert version["type"] == "text"
    assert version.get("default", "") == ""
    assert version["min"] >= 1


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_template_can_restrict_components(environment):
    for kind in KINDS:
        components = _questions(_by(environment, kind))["platform_components"]
        assert components["required"] is False and components["default"] == ""


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rollback_asks_revision_or_version(environment):
    questions = _questions(_by(environment, "Rollback"))
    assert {"revision", "version"} <= set(questions)
    assert questions["revision"]["required"] is False and questions["version"]["required"] is False


def test_only_production_changes_ask_for_confirmation():
    for environment in ENVIRONMENTS:
        for kind in KINDS:
            questions = _questions(_by(environment, kind))
            wants = environment == "production" and kind in ("Deploy", "Rollback")
            assert ("deploy_confirm" in questions) == wants, f"{environment} {kind}"
            if wants:
                confirm = questions["deploy_confirm"]
                assert confirm["required"] is True
                assert confirm["default"] == "no", "production must not be confirmed by default"


def test_kubeconfig_credential_type_injects_k8s_auth_kubeconfig():
    credential_type = DATA["awx_kubeconfig_credential_type"]
    fields = {field["id"]: field for field in credential_type["inputs"]["fields"]}
    assert fields["kubeconfig"]["secret"] is True
    assert credential_type["injectors"]["env"]["K8S_AUTH_KUBECONFIG"] == "{{ tower.filename.kubeconfig }}"
    assert "template.kubeconfig" in credential_type["injectors"]["file"]
    assert DATA["awx_kubernetes_credential_type"] == "OpenShift or Kubernetes API Bearer Token"


def _survey(*questions, **fields):
    return {"name": "x", "description": "", "spec": list(questions), **fields}


def _question(**fields):
    return {"type": "text", "question_name": "q", "variable": "v", "required": False, "min": 0, "max": 3, **fields}


BROKEN_SPECS = [
    ({"description": "", "spec": [{}]}, "name"),
    (_survey(), "doesn't contain"),
    (_survey({"type": "text", "question_name": "q", "variable": "v"}), "missing: required"),
    (_survey(_question(type="date")), "not one of"),
    (_survey(_question(type="integer", min=0, max=5, default="3")), "must be int"),
    (_survey(_question(default="1.0.0")), "outside min"),
    (_survey(_question(type="multiplechoice", choices=["a", "b"], default="c")), "one of the choices"),
    (
        _survey({"type": "multiplechoice", "question_name": "q", "variable": "v", "required": True}),
        "must specify choices",
    ),
    (_survey(_question(required="yes")), "boolean"),
    (_survey(_question(), _question(question_name="q2")), "duplicated"),
    (_survey(_question(variable="my-var")), "valid Ansible variable"),
    (_survey(_question(min="0")), "integer"),
]


@pytest.mark.parametrize("spec,message", BROKEN_SPECS, ids=[case[1] for case in BROKEN_SPECS])
def test_validator_rejects_what_awx_rejects(spec, message):
    errors = validate_survey_spec(spec)
    assert errors, "a broken spec passed"
    assert any(message in error for error in errors), errors


def _module_options(module):
    """Documented options of a bundled awx.awx module."""
    spec = importlib.util.find_spec("ansible_collections.awx.awx")
    if spec is None:
        pytest.skip("awx.awx is not installed (it comes with the ansible package in requirements.txt)")
    source = Path(list(spec.submodule_search_locations)[0], "plugins", "modules", f"{module}.py").read_text(
        encoding="utf-8"
    )
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
            doc = yaml.safe_load(node.value.value)
            return set(doc["options"]) | {alias for opt in doc["options"].values() for alias in opt.get("aliases", [])}
    raise AssertionError(f"no DOCUMENTATION in awx.awx.{module}")


def test_configure_playbook_uses_existing_awx_modules_and_options():
    with CONFIGURE.open(encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    used = 0
    for play in plays:
        assert "group/awx.awx.controller" in play["module_defaults"]
        for task in play["tasks"]:
            modules = [key for key in task if key.startswith("awx.awx.")]
            for module in modules:
                options = _module_options(module.split(".")[-1])
                unknown = set(task[module]) - options
                assert not unknown, f"{task['name']}: {module} has no option {sorted(unknown)}"
                used += 1
    assert used >= 7
    for secret_task in (t for play in plays for t in play["tasks"] if "awx.awx.credential" in t):
        assert secret_task.get("no_log"), f"{secret_task['name']} must hide the secret inputs"


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_every_survey_answer_is_read_by_the_playbook(template):
    """A survey variable nobody reads is an answer silently ignored (a renamed variable, say)."""
    playbook = ROOT / template["playbook"]
    if not playbook.exists():
        pytest.fail(f"{template['playbook']} does not exist")
    sources = [playbook.read_text(encoding="utf-8")]
    sources += [path.read_text(encoding="utf-8") for path in sorted((ROOT / "roles").glob("*/defaults/main.yml"))]
    corpus = "\n".join(sources)
    for question in template["survey"]["spec"]:
        assert re.search(rf"\b{re.escape(question['variable'])}\b", corpus), (
            f"{template['name']}: survey variable {question['variable']} is not read by {template['playbook']}"
        )
