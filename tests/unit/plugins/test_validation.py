"""plugins/module_utils/validation.py: quantities, booleans, URLs, numbers, components, access checks."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from ansible_collections.intelligent_agent.platform.plugins.filter import validation as filters
from ansible_collections.intelligent_agent.platform.plugins.module_utils import validation as v

ROOT = Path(__file__).resolve().parents[3]


def app_options():
    specs = yaml.safe_load((ROOT / "roles/app/meta/argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]["app_components"]["options"]


def merged_components():
    """The app role's default components merged over its component defaults (like components.j2)."""
    defaults = yaml.safe_load((ROOT / "roles/app/defaults/main.yml").read_text())

    def merge(base, top):
        out = copy.deepcopy(base)
        for key, value in top.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out

    return [merge(defaults["app_component_defaults"], c) for c in defaults["app_components"]]


# --- quantities ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("250m", Decimal("0.25")),
        ("1", Decimal(1)),
        (2, Decimal(2)),
        (0.5, Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("100n", Decimal("1e-7")),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("+2", Decimal(2)),
        ("-1", Decimal(-1)),
    ],
)
def test_parse_quantity_follows_the_kubernetes_grammar(text, expected):
    assert v.parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text",
    ["lots", "", " 1", "1 ", "1mi", "1Kib", "1KB", "1.5.5", "m", "Gi", "1e", "1e1.5", "0x10", True, None, [], {}],
)
def test_parse_quantity_refuses_what_the_api_server_refuses(text):
    with pytest.raises(v.ValidationError, match="quantity"):
        v.parse_quantity(text)


# --- booleans --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, True),
        (False, False),
        ("true", True),
        ("True", True),
        ("YES", True),
        ("y", True),
        ("on", True),
        ("1", True),
        (1, True),
        ("false", False),
        ("no", False),
        ("Off", False),
        ("0", False),
        (0, False),
        (" false ", False),
    ],
)
def test_parse_bool_accepts_the_usual_words(value, expected):
    assert v.parse_bool(value) is expected


@pytest.mark.parametrize("value", ["ture", "flase", "maybe", 2, -1, 0.5, [], {}])
def test_parse_bool_refuses_typos_instead_of_reading_false(value):
    with pytest.raises(v.ValidationError, match="not a boolean"):
        v.parse_bool(value)


def test_parse_bool_empty_is_false_only_when_allowed():
    assert v.parse_bool("", allow_empty=True) is False
    assert v.parse_bool(None, allow_empty=True) is False
    with pytest.raises(v.ValidationError, match="empty"):
        v.parse_bool("")


# --- URLs and numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:31080/health", "https://api.example.com", "HTTPS://x.io/a?b=1", "http://user:pw@host/x"]
)
def test_check_url_accepts_http_and_https_with_a_host(url):
    assert v.check_url(url) == []


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("ftp://example.com/health", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("example.com/health", "has no scheme"),
        ("http:///health", "has no host"),
        ("http://host:99999/", "invalid port"),
        ("http://host:0/", "invalid port"),
        ("http://ho st/", "spaces"),
        ("", "must be a URL"),
        (None, "must be a URL"),
    ],
)
def test_check_url_names_the_problem(url, fragment):
    problems = v.check_url(url)
    assert len(problems) == 1 and fragment in problems[0], problems


def test_check_url_never_repeats_the_url():
    secret = "https://hooks.example.com/services/T000/B000/very-secret-token"
    problems = v.check_url(secret.replace("https", "gopher"))
    assert problems and all("very-secret-token" not in p for p in problems)


@pytest.mark.parametrize(
    "value, kwargs, fragment",
    [
        (0, {"minimum": 0, "exclusive_minimum": True}, "greater than 0"),
        (-5, {"minimum": 0}, "0 or more"),
        ("ten", {}, "not a number"),
        (True, {}, "not a number"),
        (1.5, {"integer": True}, "whole number"),
        ("1.5", {"integer": True}, "whole number"),
        (700, {"maximum": 599}, "599 or less"),
    ],
)
def test_check_number_problems(value, kwargs, fragment):
    problems = v.check_number(value, **kwargs)
    assert len(problems) == 1 and fragment in problems[0], problems


@pytest.mark.parametrize("value", [1, "1", 0.5, "600", 10.0])
def test_check_number_accepts_positive_numbers_and_numeric_strings(value):
    assert v.check_number(value, minimum=0, exclusive_minimum=True) == []


# --- typed inputs ----------------------------------------------------------------------------------------


def test_input_problems_collects_every_problem_at_once():
    problems = v.input_problems(
        [
            {
                "path": "platform_version",
                "value": "",
                "type": "image_tag",
                "required": True,
                "hint": "-e platform_version=1.2.3",
            },
            {"path": "rollback_on_failure", "value": "ture", "type": "bool"},
            {"path": "image_build", "value": "yes", "type": "bool"},
            {"path": "deploy_confirm", "value": "", "type": "bool"},
            {"path": "platform_webhook_url", "value": "", "type": "url"},
            {"path": "release_wait_timeout", "value": 0, "type": "positive_number"},
            {"path": "release_health_retries", "value": -1, "type": "non_negative_int"},
            {
                "path": "platform_health_checks",
                "type": "health_checks",
                "value": [
                    {"name": "web", "url": "ftp://x/health"},
                    {"name": "web", "url": "http://x", "status_codes": [42]},
                    {"url": "https://x", "timout": 3},
                ],
            },
        ]
    )
    assert problems == [
        "platform_version: is required (-e platform_version=1.2.3)",
        "rollback_on_failure: 'ture' is not a boolean; use true or false",
        "release_wait_timeout: must be greater than 0, got 0",
        "release_health_retries: must be 0 or more, got -1",
        "platform_health_checks[web].url: scheme 'ftp' is not allowed; use http or https",
        "platform_health_checks[web].status_codes: 42 is not an HTTP status code (100-599)",
        "platform_health_checks[2]: unknown field(s) timout (known: " + ", ".join(v._HEALTH_CHECK_FIELDS) + ")",
        "platform_health_checks[2].name: is required (a short name used in messages)",
        "platform_health_checks: check names must be unique, repeated: web",
    ]


@pytest.mark.parametrize(
    "item, fragment",
    [
        ({"path": "platform_version", "value": "1.2.3 beta", "type": "image_tag"}, "not a valid image tag"),
        ({"path": "platform_webhook_url", "value": "ftp://hooks", "type": "url"}, "scheme 'ftp'"),
        ({"path": "release_urls", "value": ["http://ok", "nohost"], "type": "urls"}, "release_urls[1]: has no scheme"),
        ({"path": "q", "value": "-1", "type": "quantity"}, "must not be negative"),
        ({"path": "q", "value": "lots", "type": "quantity"}, "not a Kubernetes quantity"),
        ({"path": "mode", "value": "vault2", "type": "choice", "choices": ["omit", "vault"]}, "one of omit, vault"),
        ({"path": "h", "value": [], "type": "dict"}, "must be a dict"),
        (
            {"path": "ev", "value": ["success", "sucess"], "type": "choices", "choices": ["success", "failure"]},
            "'sucess' is not one of",
        ),
        ({"path": "platform_namespace", "value": "My_NS", "type": "dns_label"}, "not a DNS-1123 label"),
        ({"path": "x", "value": 1, "type": "nonsense"}, "unknown check type"),
        ({"path": "platform_health_checks", "value": {"url": "http://x"}, "type": "health_checks"}, "must be a list"),
    ],
)
def test_input_problems_per_type(item, fragment):
    problems = v.input_problems([item])
    assert len(problems) == 1 and fragment in problems[0], problems


def test_input_problems_accepts_good_values():
    assert (
        v.input_problems(
            [
                {"path": "platform_version", "value": "1.2.3", "type": "image_tag", "required": True},
                {"path": "b", "value": False, "type": "bool"},
                {"path": "u", "value": "https://hooks.example.com/x", "type": "url"},
                {"path": "t", "value": "600", "type": "positive_int"},
                {
                    "path": "c",
                    "value": [
                        {
                            "name": "api",
                            "url": "http://127.0.0.1:1/health",
                            "status_codes": [200, 204],
                            "json_path": "version",
                            "timeout": 5,
                            "validate_certs": "no",
                        }
                    ],
                    "type": "health_checks",
                },
                {"path": "q", "value": "250m", "type": "quantity"},
            ]
        )
        == []
    )


# --- components ------------------------------------------------------------------------------------------


def test_the_default_components_are_valid():
    assert (
        v.component_problems(
            merged_components(), app_options(), overrides={}, selected=[], load_balancer_component="frontend"
        )
        == []
    )


def backend_with(**changes):
    components = merged_components()
    backend = next(c for c in components if c["name"] == "backend")
    for dotted, value in changes.items():
        node = backend
        parts = dotted.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return components


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"replicas": -1}, "app_components[backend].replicas: must be 0 or more, got -1"),
        ({"replicas": "three"}, "app_components[backend].replicas: 'three' is not a whole number"),
        ({"replica_count": 3}, "app_components[backend].replica_count: unknown field"),
        (
            {"resources__requests__cpu": "lots"},
            "app_components[backend].resources.requests.cpu: 'lots' is not a Kubernetes quantity",
        ),
        (
            {"resources__limits__memory": "1GB"},
            "app_components[backend].resources.limits.memory: '1GB' is not a Kubernetes quantity",
        ),
        (
            {"resources__requests__cpu": "2"},
            "app_components[backend].resources.requests.cpu: 2 is more than resources.limits.cpu 1000m",
        ),
        ({"autoscaling__enabled": "ture"}, "app_components[backend].autoscaling.enabled: 'ture' is not a boolean"),
        ({"autoscaling__min_replicass": 2}, "app_components[backend].autoscaling.min_replicass: unknown field"),
        (
            {"autoscaling__min_replicas": 30},
            "app_components[backend].autoscaling.min_replicas: 30 is more than max_replicas 20",
        ),
        ({"container_port": -5000}, "app_components[backend].container_port: must be 1-65535, got -5000"),
        ({"service__port": 70000}, "app_components[backend].service.port: must be 1-65535, got 70000"),
        ({"service__node_port": 80}, "app_components[backend].service.node_port: must be 30000-32767, got 80"),
        (
            {"service__type": "Magic"},
            "app_components[backend].service.type: must be one of ClusterIP, NodePort, LoadBalancer",
        ),
        ({"run_as_user": 0}, "app_components[backend].run_as_user: must not be root (0)"),
        (
            {"strategy__max_surge": 0, "strategy__max_unavailable": "0%"},
            "app_components[backend].strategy: max_surge and max_unavailable must not both be 0",
        ),
        (
            {"strategy__max_surge": "lots"},
            "app_components[backend].strategy.max_surge: must be a whole number or a percentage",
        ),
        ({"probes__readiness__path": "ready"}, "app_components[backend].probes.readiness.path: must start with /"),
        (
            {"probes__liveness__period_seconds": 0},
            "app_components[backend].probes.liveness.period_seconds: must be 1 or more, got 0",
        ),
        (
            {"writable_dirs": [{"path": "tmp", "size_limit": "big"}]},
            "app_components[backend].writable_dirs[0].path: must be absolute",
        ),
        (
            {"writable_dirs": [{"path": "/tmp", "size_limit": "big"}]},
            "app_components[backend].writable_dirs[0].size_limit: 'big' is not a Kubernetes quantity",
        ),
        (
            {"pdb__max_unavailable": 1},
            "app_components[backend].pdb: needs exactly one of min_available or max_unavailable",
        ),
        (
            {"vpa__min_allowed__cpu": "3"},
            "app_components[backend].vpa.min_allowed.cpu: is more than vpa.max_allowed.cpu",
        ),
        (
            {"ingress__hosts": ["Not A Host"]},
            "app_components[backend].ingress.hosts[0]: 'Not A Host' is not a DNS name",
        ),
        ({"name": "Backend_1"}, "app_components[Backend_1].name: must be a DNS-1035 label"),
        ({"env_from_secret": "maybe"}, "app_components[backend].env_from_secret: 'maybe' is not a boolean"),
        ({"tolerations": "all"}, "app_components[backend].tolerations: must be a list"),
    ],
)
def test_component_problems_name_the_component_and_the_field(changes, expected):
    problems = v.component_problems(backend_with(**changes), app_options())
    assert any(p.startswith(expected) for p in problems), problems


def test_component_problems_reports_every_problem_at_once():
    components = backend_with(replicas=-1, resources__requests__cpu="lots", autoscaling__enabled="ture", colour="blue")
    problems = v.component_problems(
        components,
        app_options(),
        overrides={"worker": {}},
        selected=["frontend", "worker"],
        load_balancer_component="gateway",
    )
    fields = [p.split(":")[0] for p in problems]
    assert fields == [
        "app_components[backend].colour",
        "app_components[backend].autoscaling.enabled",
        "app_components[backend].replicas",
        "app_components[backend].resources.requests.cpu",
        "app_component_overrides.worker",
        "platform_components (app_only_components)",
        "app_load_balancer_component",
    ], problems


def test_a_field_with_a_wrong_type_is_reported_once():
    problems = v.component_problems(backend_with(replicas="three", autoscaling__min_replicas="two"), app_options())
    assert len([p for p in problems if ".replicas:" in p]) == 1
    assert len([p for p in problems if "min_replicas" in p]) == 1, problems


def test_duplicate_names_and_missing_fields():
    components = merged_components()
    components[1]["name"] = "frontend"
    del components[0]["image"]
    problems = v.component_problems(components, app_options())
    assert "app_components: component names must be unique, repeated: frontend" in problems
    assert "app_components[frontend].image: is required (an image reference)" in problems


# --- access checks ---------------------------------------------------------------------------------------


def test_access_checks_build_reviews_and_drop_disabled_ones():
    checks = v.access_checks(
        [
            {"group": "", "resource": "configmaps", "verb": "patch"},
            {"group": "", "resource": "pods/log", "verb": "get"},
            {"group": "", "resource": "resourcequotas", "verb": "patch", "when": "False"},
            {"group": "", "resource": "namespaces", "verb": "create", "cluster_scoped": True},
            {"group": "", "resource": "namespaces", "verb": "patch", "name": "ns1", "key": "namespace_patch"},
        ],
        "ns1",
    )
    assert [c["key"] for c in checks] == ["configmaps_patch", "pods_log_get", "namespaces_create", "namespace_patch"]
    assert checks[1]["review"]["spec"]["resourceAttributes"] == {
        "group": "",
        "resource": "pods",
        "subresource": "log",
        "verb": "get",
        "namespace": "ns1",
    }
    assert "namespace" not in checks[2]["review"]["spec"]["resourceAttributes"]
    assert checks[3]["review"]["spec"]["resourceAttributes"]["name"] == "ns1"


@pytest.mark.parametrize(
    "check", [{"resource": "pods"}, {"verb": "get"}, "pods", {"resource": "pods", "verb": "get", "when": "ture"}]
)
def test_access_checks_refuse_malformed_checks(check):
    with pytest.raises(v.ValidationError):
        v.access_checks([check], "ns")


def test_access_results_lists_denials_and_answers_per_key():
    checks = v.access_checks(
        [
            {"group": "apps", "resource": "deployments", "verb": "patch"},
            {"group": "", "resource": "services", "verb": "patch"},
            {"group": "cert-manager.io", "resource": "clusterissuers", "verb": "create", "cluster_scoped": True},
        ],
        "ns",
    )
    results = v.access_results(checks, [{"status": {"allowed": True}}, {"status": {"allowed": False}}, {}])
    assert results == {
        "denied": ["patch services", "create clusterissuers.cert-manager.io"],
        "can": {"deployments_patch": True, "services_patch": False, "clusterissuers_create": False},
    }


# --- filters ---------------------------------------------------------------------------------------------


def test_filters_are_registered_and_wrap_module_utils():
    registered = filters.FilterModule().filters()
    assert set(registered) == {"input_problems", "component_problems", "access_checks", "access_results"}
    assert registered["input_problems"]([{"path": "b", "value": "ture", "type": "bool"}]) == [
        "b: 'ture' is not a boolean; use true or false"
    ]


@pytest.mark.parametrize(
    "name, args",
    [
        ("input_problems", ({"path": "x"},)),
        ("component_problems", ([], None)),
        ("access_checks", ([{"verb": "get"}], "ns")),
        ("access_results", ([], None)),
    ],
)
def test_filters_raise_filter_errors_on_wrong_input(name, args):
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError):
        filters.FilterModule().filters()[name](*args)


def test_every_filter_has_its_documentation_beside_it():
    for name in filters.FilterModule().filters():
        doc = yaml.safe_load((ROOT / "plugins/filter" / f"{name}.yml").read_text())
        assert doc["DOCUMENTATION"]["name"] == name and doc["EXAMPLES"] and doc["RETURN"]


@pytest.mark.parametrize(
    "kind, resource",
    [
        ("Deployment", "deployments"),
        ("NetworkPolicy", "networkpolicies"),
        ("Ingress", "ingresses"),
        ("HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        ("Lease", "leases"),
        ("Gateway", "gateways"),
    ],
)
def test_resource_of_kind(kind, resource):
    assert v.resource_of_kind(kind) == resource


def test_access_checks_accept_kinds_and_make_each_review_once():
    checks = v.access_checks(
        [
            {"api_version": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "verb": "list"},
            {"api_version": "v1", "kind": "ConfigMap", "verb": "list"},
            {"group": "", "resource": "configmaps", "verb": "list"},
        ],
        "ns",
    )
    assert [(c["group"], c["resource"], c["verb"]) for c in checks] == [
        ("autoscaling", "horizontalpodautoscalers", "list"),
        ("", "configmaps", "list"),
    ]


def _granted(rules, check):
    resource = check["resource"]
    return any(
        check["group"] in rule.get("apiGroups", [])
        and resource in rule.get("resources", [])
        and check["verb"] in rule.get("verbs", [])
        for rule in rules
    )


def test_the_deployer_role_grants_every_permission_the_preflight_requires():
    """roles/namespace's deployer Role (bootstrap.yml) and release_access_checks must not drift apart: a
    bootstrapped deployer is never refused by the preflight (every `when` taken as true: the widest run)."""
    release = yaml.safe_load((ROOT / "roles/release/defaults/main.yml").read_text())
    rules = yaml.safe_load((ROOT / "roles/namespace/defaults/main.yml").read_text())["namespace_deployer_rules"]
    backup = [
        dict(kind, verb="list") for kind in release["release_backup_kinds"] + [{"api_version": "v1", "kind": "Secret"}]
    ]
    checks = v.access_checks([dict(c, when=True) for c in release["release_access_checks"]] + backup, "ns")
    missing = [v.describe_check(c) for c in checks if not _granted(rules, c)]
    assert not missing, f"namespace_deployer_rules lack: {missing}"
    assert len(checks) >= 30
