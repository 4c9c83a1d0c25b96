# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input validation for the deploy preflight, as plain logic: Kubernetes quantities, strict booleans,
HTTP(S) URLs, positive numbers, the app components (checked against the app role's argument spec and the
rules the API server would apply) and the SelfSubjectAccessReviews of a run.

Every check collects ALL problems as "field path: problem" strings instead of stopping at the first one,
so that one assert can report everything that is wrong at once. No value that may be secret is ever
echoed: URLs are reported by scheme or part only, header values never."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from decimal import Decimal, InvalidOperation

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2
    from urlparse import urlsplit

TRUE_STRINGS = ("true", "yes", "y", "on", "1")
FALSE_STRINGS = ("false", "no", "n", "off", "0")

# Kubernetes quantity grammar (k8s.io/apimachinery/pkg/api/resource):
#   <quantity> ::= <signedNumber><suffix>; <suffix> ::= <binarySI> | <decimalExponent> | <decimalSI>
#   <binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei; <decimalSI> ::= n | u | m | "" | k | M | G | T | P | E
#   <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>
_QUANTITY_RE = re.compile(
    r"^(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exponent>[eE][+-]?[0-9]+)|(?P<decimal>[numkMGTPE]))?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
}
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_1123_SUBDOMAIN = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PERCENT = re.compile(r"^[0-9]+%$")
_HTTP_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
_HEALTH_CHECK_FIELDS = (
    "name",
    "url",
    "method",
    "status_codes",
    "body_contains",
    "json_path",
    "json_equals",
    "max_latency_ms",
    "headers",
    "secret_headers",
    "validate_certs",
    "ca_path",
    "client_cert",
    "client_key",
    "timeout",
)


class ValidationError(ValueError):
    """A value that does not follow its grammar; the message says what is wrong, never the whole value."""


def _short(value, limit=40):
    text = repr(value) if not isinstance(value, str) else "'%s'" % value
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_quantity(value):
    """Decimal value of a Kubernetes quantity ('250m' -> 0.25, '1Gi' -> 1073741824, 2 -> 2)."""
    if isinstance(value, bool) or value is None:
        raise ValidationError("%s is not a Kubernetes quantity" % _short(value))
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        raise ValidationError("%s is not a Kubernetes quantity" % _short(value))
    match = _QUANTITY_RE.match(value.strip()) if value.strip() == value else None
    if not match:
        raise ValidationError(
            "%s is not a Kubernetes quantity (a number with an optional suffix: 250m, 0.5, 2, 512Mi, 1Gi, 1e3)"
            % _short(value)
        )
    number = Decimal(match.group("number") if not match.group("number").endswith(".") else match.group("number")[:-1])
    if match.group("sign") == "-":
        number = -number
    if match.group("binary"):
        return number * _BINARY[match.group("binary")]
    if match.group("decimal"):
        return number * _DECIMAL[match.group("decimal")]
    if match.group("exponent"):
        try:
            return number.scaleb(int(match.group("exponent")[1:]))
        except (InvalidOperation, ValueError):  # pragma: no cover - the regex admits integers only
            raise ValidationError("%s has an invalid exponent" % _short(value))
    return number


def parse_bool(value, allow_empty=False):
    """True/False from a bool, 0/1 or the usual words (true/false, yes/no, y/n, on/off, 1/0; any case).

    Anything else ('ture', 'maybe', 2) raises, so that a typo never silently means false. With
    allow_empty, None and '' mean false (an AWX survey answer left blank)."""
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if allow_empty:
            return False
        raise ValidationError("is empty; use true or false")
    if _is_int(value) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_STRINGS:
            return True
        if word in FALSE_STRINGS:
            return False
    raise ValidationError("%s is not a boolean; use true or false" % _short(value))


def check_url(value, schemes=("http", "https")):
    """Problems of a URL as a list of strings (empty = fine). Never repeats the URL: it may hold a token."""
    if not isinstance(value, str) or not value.strip():
        return ["must be a URL (%s://host/...)" % "|".join(schemes)]
    if value != value.strip() or re.search(r"\s", value):
        return ["must not contain spaces"]
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if not scheme:
        return ["has no scheme; use %s" % " or ".join("%s://" % s for s in schemes)]
    if scheme not in schemes:
        return ["scheme '%s' is not allowed; use %s" % (scheme[:20], " or ".join(schemes))]
    problems = []
    if not parts.hostname:
        problems.append("has no host (%s://<host>[:port]/path)" % scheme)
    try:
        port = parts.port
    except ValueError:
        problems.append("has an invalid port")
    else:
        if port == 0:
            problems.append("has an invalid port")
    return problems


def check_number(value, minimum=None, integer=False, exclusive_minimum=False, maximum=None):
    """Problems of a number (int, float or numeric string; never a bool) as a list of strings."""
    if isinstance(value, bool) or value is None:
        return ["%s is not a number" % _short(value)]
    number = value
    if isinstance(value, str):
        text = value.strip()
        pattern = r"^[+-]?[0-9]+$" if integer else r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
        if not re.match(pattern, text):
            return ["%s is not %s" % (_short(value), "a whole number" if integer else "a number")]
        number = int(text) if integer else float(text)
    elif not isinstance(value, (int, float)):
        return ["%s is not a number" % _short(value)]
    elif integer and not _is_int(value) and not float(value).is_integer():
        return ["%s is not a whole number" % _short(value)]
    if minimum is not None:
        if exclusive_minimum and not number > minimum:
            return ["must be greater than %s, got %s" % (minimum, value)]
        if not exclusive_minimum and not number >= minimum:
            return ["must be %s or more, got %s" % (minimum, value)]
    if maximum is not None and number > maximum:
        return ["must be %s or less, got %s" % (maximum, value)]
    return []


def _int_value(value):
    if _is_int(value):
        return value
    if isinstance(value, str) and re.match(r"^[+-]?[0-9]+$", value.strip()):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


# ---------------------------------------------------------------------------------------------------------
# Typed inputs: [{path, value, type, required?, ...}] -> ["path: problem", ...]
# ---------------------------------------------------------------------------------------------------------


def _check_health_checks(path, checks):
    problems = []
    if checks is None:
        return problems
    if not isinstance(checks, list):
        return ["%s: must be a list of checks (name, url, ...)" % path]
    names = []
    for index, check in enumerate(checks):
        if not isinstance(check, dict):
            problems.append("%s[%d]: must be a dict with name and url" % (path, index))
            continue
        label = "%s[%s]" % (
            path,
            check.get("name") if isinstance(check.get("name"), str) and check.get("name") else index,
        )
        unknown = sorted(str(k) for k in check if k not in _HEALTH_CHECK_FIELDS)
        if unknown:
            problems.append(
                "%s: unknown field(s) %s (known: %s)" % (label, ", ".join(unknown), ", ".join(_HEALTH_CHECK_FIELDS))
            )
        if not isinstance(check.get("name"), str) or not check.get("name"):
            problems.append("%s.name: is required (a short name used in messages)" % label)
        else:
            names.append(check["name"])
        problems.extend("%s.url: %s" % (label, p) for p in check_url(check.get("url")))
        method = check.get("method", "GET")
        if not isinstance(method, str) or method.upper() not in _HTTP_METHODS:
            problems.append("%s.method: must be one of %s" % (label, ", ".join(_HTTP_METHODS)))
        codes = check.get("status_codes", [200])
        if not isinstance(codes, list) or not codes:
            problems.append("%s.status_codes: must be a non-empty list of HTTP status codes" % label)
        else:
            for code in codes:
                if check_number(code, minimum=100, maximum=599, integer=True):
                    problems.append("%s.status_codes: %s is not an HTTP status code (100-599)" % (label, _short(code)))
        for field in ("max_latency_ms", "timeout"):
            if field in check and check[field] is not None:
                problems.extend(
                    "%s.%s: %s" % (label, field, p)
                    for p in check_number(check[field], minimum=0, exclusive_minimum=True)
                )
        if "validate_certs" in check:
            try:
                parse_bool(check["validate_certs"])
            except ValidationError as exc:
                problems.append("%s.validate_certs: %s" % (label, exc))
        for field in ("headers",):
            if field in check and not isinstance(check[field], dict):
                problems.append("%s.%s: must be a dict (name -> value)" % (label, field))
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    if duplicates:
        problems.append("%s: check names must be unique, repeated: %s" % (path, ", ".join(duplicates)))
    return problems


def _check_input(item):
    path = item.get("path", "?")
    kind = item.get("type", "raw")
    value = item.get("value")
    empty = value is None or (isinstance(value, str) and value.strip() == "")
    if empty and kind not in ("bool",):
        if item.get("required"):
            return ["%s: is required%s" % (path, (" (%s)" % item["hint"]) if item.get("hint") else "")]
        return []
    if kind == "bool":
        try:
            parse_bool(value, allow_empty=not item.get("required"))
        except ValidationError as exc:
            return ["%s: %s" % (path, exc)]
        return []
    if kind == "url":
        return ["%s: %s" % (path, p) for p in check_url(value, tuple(item.get("schemes") or ("http", "https")))]
    if kind == "urls":
        if not isinstance(value, list):
            return ["%s: must be a list of URLs" % path]
        return ["%s[%d]: %s" % (path, i, p) for i, url in enumerate(value) for p in check_url(url)]
    if kind in ("positive_number", "positive_int", "non_negative_int", "non_negative_number"):
        return [
            "%s: %s" % (path, p)
            for p in check_number(
                value,
                minimum=0,
                integer=kind.endswith("_int"),
                exclusive_minimum=kind.startswith("positive"),
                maximum=item.get("maximum"),
            )
        ]
    if kind == "quantity":
        try:
            if parse_quantity(value) < 0:
                return ["%s: must not be negative, got %s" % (path, _short(value))]
        except ValidationError as exc:
            return ["%s: %s" % (path, exc)]
        return []
    if kind == "image_tag":
        if not isinstance(value, (str, int, float)) or not _IMAGE_TAG.match(str(value).strip()):
            return [
                "%s: %s is not a valid image tag (letters, digits, '_', '.', '-'; at most 128 characters)"
                % (path, _short(value))
            ]
        return []
    if kind == "dns_label":
        if not isinstance(value, str) or not re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", value):
            return [
                "%s: %s is not a DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)"
                % (path, _short(value))
            ]
        return []
    if kind == "choices":
        if not isinstance(value, list):
            return ["%s: must be a list" % path]
        return [
            "%s: %s is not one of %s" % (path, _short(v), ", ".join(str(c) for c in item.get("choices") or []))
            for v in value
            if v not in (item.get("choices") or [])
        ]
    if kind == "choice":
        if value not in (item.get("choices") or []):
            choices = ", ".join(str(c) for c in item.get("choices") or [])
            return ["%s: must be one of %s, got %s" % (path, choices, _short(value))]
        return []
    if kind == "dict":
        return [] if isinstance(value, dict) else ["%s: must be a dict" % path]
    if kind == "health_checks":
        return _check_health_checks(path, value)
    if kind == "raw":
        return []
    return ["%s: unknown check type '%s' (a bug in the caller)" % (path, kind)]


def input_problems(inputs):
    """All problems of a list of typed inputs, each {path, value, type[, required, hint, schemes, maximum]}.

    Types: bool (strict, empty = false unless required), url, urls, positive_number, positive_int,
    non_negative_int, non_negative_number, quantity, image_tag, dns_label, choice, choices (a list of choices), dict,
    health_checks, raw."""
    problems = []
    for item in inputs or []:
        if not isinstance(item, dict) or "path" not in item:
            problems.append("%s: each input check needs path, value and type" % _short(item))
            continue
        problems.extend(_check_input(item))
    return problems


# ---------------------------------------------------------------------------------------------------------
# App components: argument spec (types, choices, required, unknown fields) + the API server's rules
# ---------------------------------------------------------------------------------------------------------


def _type_problem(value, spec_type):
    if value is None:
        return None
    if spec_type == "str":
        if isinstance(value, (dict, list, bool)):
            return "%s is not a string" % _short(value)
    elif spec_type == "int":
        if _int_value(value) is None:
            return "%s is not a whole number" % _short(value)
    elif spec_type == "bool":
        try:
            parse_bool(value)
        except ValidationError as exc:
            return str(exc)
    elif spec_type == "dict":
        if not isinstance(value, dict):
            return "must be a dict, got %s" % _short(value)
    elif spec_type == "list":
        if not isinstance(value, list):
            return "must be a list, got %s" % _short(value)
    return None


def spec_problems(value, options, path):
    """Walk a dict against Ansible argument-spec options: unknown fields, required, types, choices, elements."""
    problems = []
    if not isinstance(value, dict):
        return ["%s: must be a dict, got %s" % (path, _short(value))]
    for key in sorted(str(k) for k in value if k not in options):
        problems.append("%s.%s: unknown field (known: %s)" % (path, key, ", ".join(sorted(options))))
    for name, spec in options.items():
        spec = spec or {}
        field = "%s.%s" % (path, name)
        if name not in value or value[name] is None:
            if spec.get("required"):
                problems.append("%s: is required" % field)
            continue
        item = value[name]
        problem = _type_problem(item, spec.get("type", "str"))
        if problem:
            problems.append("%s: %s" % (field, problem))
            continue
        if spec.get("choices") and item not in spec["choices"]:
            choices = ", ".join(str(c) for c in spec["choices"])
            problems.append("%s: must be one of %s, got %s" % (field, choices, _short(item)))
        if spec.get("type") == "dict" and spec.get("options"):
            problems.extend(spec_problems(item, spec["options"], field))
        if spec.get("type") == "list":
            for index, element in enumerate(item):
                element_field = "%s[%d]" % (field, index)
                if spec.get("elements") == "dict" and spec.get("options"):
                    problems.extend(spec_problems(element, spec["options"], element_field))
                elif spec.get("elements"):
                    problem = _type_problem(element, spec["elements"])
                    if problem:
                        problems.append("%s: %s" % (element_field, problem))
    return problems


def _get(data, dotted, default=None):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data or data[part] is None:
            return default
        data = data[part]
    return data


def _enabled(data, dotted):
    try:
        return parse_bool(_get(data, dotted, False), allow_empty=True)
    except ValidationError:
        return False  # reported by the spec walk


def _component_rules(component, field):
    """The API server's and the platform's rules for one merged component (types already checked)."""
    problems = []

    def need(ok, dotted, message):
        if not ok:
            problems.append("%s.%s: %s" % (field, dotted, message))

    def integer(dotted, minimum, maximum=None):
        value = _get(component, dotted)
        if value is None:
            return None
        number = _int_value(value)
        if number is None:
            return None  # type problem already reported
        if number < minimum or (maximum is not None and number > maximum):
            need(
                False,
                dotted,
                "must be %s, got %s"
                % (("%d-%d" % (minimum, maximum)) if maximum is not None else "%d or more" % minimum, value),
            )
            return None
        return number

    name = component.get("name")
    need(
        isinstance(name, str) and bool(_DNS_1035.match(name)),
        "name",
        "must be a DNS-1035 label (lowercase letters, digits, '-', starting with a letter, at most 63)",
    )
    need(
        isinstance(component.get("image"), str) and bool(component.get("image", "").strip()),
        "image",
        "is required (an image reference)",
    )
    integer("container_port", 1, 65535)
    integer("service.port", 1, 65535)
    integer("metrics.port", 1, 65535)
    if _get(component, "service.node_port") is not None:
        integer("service.node_port", 30000, 32767)
    replicas = integer("replicas", 0)
    run_as_user = _int_value(_get(component, "run_as_user", 1))
    need(run_as_user is None or run_as_user > 0, "run_as_user", "must not be root (0)")
    integer("run_as_group", 0)
    integer("termination_grace_period_seconds", 0)
    integer("pre_stop_sleep_seconds", 0)
    integer("progress_deadline_seconds", 1)
    integer("service.session_affinity_timeout_seconds", 1, 86400)

    # Rolling update: int >= 0 or a percentage, and not both zero.
    surge_zero = unavailable_zero = False
    for key in ("max_surge", "max_unavailable"):
        value = _get(component, "strategy." + key)
        if value is None:
            continue
        number = _int_value(value)
        if number is not None and not (isinstance(value, str) and "%" in value):
            need(number >= 0, "strategy." + key, "must be 0 or more, got %s" % value)
            zero = number == 0
        elif isinstance(value, str) and _PERCENT.match(value.strip()):
            zero = int(value.strip()[:-1]) == 0
        else:
            need(False, "strategy." + key, "must be a whole number or a percentage like 25%%, got %s" % _short(value))
            continue
        if key == "max_surge":
            surge_zero = zero
        else:
            unavailable_zero = zero
    need(not (surge_zero and unavailable_zero), "strategy", "max_surge and max_unavailable must not both be 0")

    # Probes
    for probe in ("liveness", "readiness", "startup"):
        base = "probes." + probe
        path = _get(component, base + ".path")
        if path is not None:
            need(isinstance(path, str) and path.startswith("/"), base + ".path", "must start with /")
        integer(base + ".initial_delay_seconds", 0)
        for key in ("period_seconds", "timeout_seconds", "failure_threshold"):
            integer("%s.%s" % (base, key), 1)

    # Resource quantities, requests <= limits
    parsed = {}
    for section in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            dotted = "resources.%s.%s" % (section, resource)
            value = _get(component, dotted)
            if value is None:
                continue
            try:
                quantity = parse_quantity(value)
            except ValidationError as exc:
                need(False, dotted, str(exc))
                continue
            if quantity < 0:
                need(False, dotted, "must not be negative, got %s" % _short(value))
                continue
            parsed[dotted] = quantity
    for resource in ("cpu", "memory"):
        request, limit = parsed.get("resources.requests." + resource), parsed.get("resources.limits." + resource)
        if request is not None and limit is not None and request > limit:
            need(
                False,
                "resources.requests." + resource,
                "%s is more than resources.limits.%s %s"
                % (
                    _get(component, "resources.requests." + resource),
                    resource,
                    _get(component, "resources.limits." + resource),
                ),
            )

    # Writable dirs
    for index, item in enumerate(component.get("writable_dirs") or []):
        if not isinstance(item, dict):
            continue
        dotted = "writable_dirs[%d]" % index
        need(
            isinstance(item.get("path"), str) and item.get("path", "").startswith("/"),
            dotted + ".path",
            "must be absolute",
        )
        if item.get("size_limit") is not None:
            try:
                if parse_quantity(item["size_limit"]) <= 0:
                    need(False, dotted + ".size_limit", "must be more than 0")
            except ValidationError as exc:
                need(False, dotted + ".size_limit", str(exc))

    # Autoscaling
    if _enabled(component, "autoscaling.enabled"):
        low = integer("autoscaling.min_replicas", 1)
        high = integer("autoscaling.max_replicas", 1)
        if _get(component, "autoscaling.min_replicas") is None or _get(component, "autoscaling.max_replicas") is None:
            need(False, "autoscaling", "needs min_replicas and max_replicas when enabled")
        elif low is not None and high is not None and low > high:
            need(False, "autoscaling.min_replicas", "%d is more than max_replicas %d" % (low, high))
        for key in ("cpu_utilization", "memory_utilization", "requests_per_second"):
            integer("autoscaling." + key, 1)
        for direction in ("scale_up", "scale_down"):
            base = "autoscaling.behavior." + direction
            integer(base + ".stabilization_window_seconds", 0, 3600)
            for index, policy in enumerate(_get(component, base + ".policies") or []):
                if not isinstance(policy, dict):
                    continue
                for key, low_bound, high_bound in (("value", 1, None), ("period_seconds", 1, 1800)):
                    value = _int_value(policy.get(key)) if policy.get(key) is not None else None
                    if value is not None and (value < low_bound or (high_bound and value > high_bound)):
                        need(
                            False,
                            "%s.policies[%d].%s" % (base, index, key),
                            "must be %s, got %s"
                            % (("%d-%d" % (low_bound, high_bound)) if high_bound else "%d or more" % low_bound, value),
                        )

    # PodDisruptionBudget
    if _enabled(component, "pdb.enabled"):
        given = [k for k in ("min_available", "max_unavailable") if _get(component, "pdb." + k) is not None]
        need(len(given) == 1, "pdb", "needs exactly one of min_available or max_unavailable when enabled")
        for key in given:
            value = _get(component, "pdb." + key)
            number = _int_value(value)
            ok = (number is not None and number >= 0 and not isinstance(value, str)) or (
                isinstance(value, str) and (_PERCENT.match(value.strip()) or (number is not None and number >= 0))
            )
            need(bool(ok), "pdb." + key, "must be a whole number 0 or more or a percentage, got %s" % _short(value))
        min_available = _int_value(_get(component, "pdb.min_available"))
        if (
            min_available is not None
            and replicas is not None
            and not _enabled(component, "autoscaling.enabled")
            and min_available > replicas
        ):
            need(
                False,
                "pdb.min_available",
                "%d is more than replicas %d: no pod could ever be evicted" % (min_available, replicas),
            )

    # VerticalPodAutoscaler bounds
    vpa = {}
    for bound in ("min_allowed", "max_allowed"):
        for resource in ("cpu", "memory"):
            dotted = "vpa.%s.%s" % (bound, resource)
            value = _get(component, dotted)
            if value is None:
                continue
            try:
                vpa[dotted] = parse_quantity(value)
            except ValidationError as exc:
                need(False, dotted, str(exc))
    for resource in ("cpu", "memory"):
        low, high = vpa.get("vpa.min_allowed." + resource), vpa.get("vpa.max_allowed." + resource)
        if low is not None and high is not None and low > high:
            need(False, "vpa.min_allowed." + resource, "is more than vpa.max_allowed." + resource)

    # Ingress hosts
    for index, host in enumerate(_get(component, "ingress.hosts") or []):
        if isinstance(host, str) and not (_DNS_1123_SUBDOMAIN.match(host) and len(host) <= 253):
            need(False, "ingress.hosts[%d]" % index, "%s is not a DNS name" % _short(host))
    ingress_path = _get(component, "ingress.path")
    if ingress_path is not None:
        need(isinstance(ingress_path, str) and ingress_path.startswith("/"), "ingress.path", "must start with /")
    return problems


def component_problems(
    components, options, overrides=None, selected=None, load_balancer_component=None, root="app_components"
):
    """All problems of the merged app components, each as 'app_components[<name>].<field>: <problem>'.

    components: the merged components (defaults <- component <- override); options: the argument-spec
    options of one component (roles/app/meta/argument_specs.yml, app_components.options); overrides: the
    raw app_component_overrides (their keys must name components); selected: the components a run is
    restricted to (platform_components); load_balancer_component: the component the LoadBalancer targets,
    None when there is no LoadBalancer."""
    problems = []
    if not isinstance(components, list):
        return ["%s: must be a list of components, got %s" % (root, _short(components))]
    names = []
    for index, component in enumerate(components):
        name = component.get("name") if isinstance(component, dict) else None
        field = "%s[%s]" % (root, name if isinstance(name, str) and name else index)
        if not isinstance(component, dict):
            problems.append("%s: must be a dict, got %s" % (field, _short(component)))
            continue
        names.append(name)
        found = spec_problems(component, options or {}, field)
        problems.extend(found)
        # The semantic rules read typed fields; skip the ones whose type is already wrong.
        broken = set(p.split(":", 1)[0] for p in found)
        problems.extend(p for p in _component_rules(component, field) if p.split(":", 1)[0] not in broken)
    known = [n for n in names if isinstance(n, str)]
    duplicates = sorted(set(n for n in known if known.count(n) > 1))
    if duplicates:
        problems.append("%s: component names must be unique, repeated: %s" % (root, ", ".join(duplicates)))
    if overrides is not None:
        if not isinstance(overrides, dict):
            problems.append("app_component_overrides: must be a dict (component name -> partial component)")
        else:
            for key in sorted(str(k) for k in overrides if k not in known):
                problems.append(
                    "app_component_overrides.%s: unknown component (components: %s)" % (key, ", ".join(known))
                )
            for key in sorted(k for k in overrides if k in known and not isinstance(overrides[k], dict)):
                problems.append("app_component_overrides.%s: must be a dict (a partial component)" % key)
    for key in selected or []:
        if key not in known:
            problems.append(
                "platform_components (app_only_components): unknown component '%s' (components: %s)"
                % (str(key)[:63], ", ".join(known))
            )
    if load_balancer_component is not None and load_balancer_component not in known:
        problems.append(
            "app_load_balancer_component: '%s' is not a component (components: %s)"
            % (str(load_balancer_component)[:63], ", ".join(known))
        )
    return problems


# ---------------------------------------------------------------------------------------------------------
# Permissions: SelfSubjectAccessReviews
# ---------------------------------------------------------------------------------------------------------


def resource_of_kind(kind):
    """The API resource (plural, lowercase) of a kind: Deployment -> deployments, NetworkPolicy -> networkpolicies."""
    name = str(kind).lower()
    if name.endswith("y") and name[-2:-1] not in "aeiou":
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    return name + "s"


def _with_resource(check):
    """A check given as {api_version, kind} gets its group and resource."""
    if isinstance(check, dict) and not check.get("resource") and check.get("kind"):
        api_version = str(check.get("api_version") or "v1")
        check = dict(
            check,
            resource=resource_of_kind(check["kind"]),
            group=api_version.rpartition("/")[0] if "/" in api_version else "",
        )
    return check


def access_checks(checks, namespace):
    """The enabled access checks, normalised, each with its SelfSubjectAccessReview body under 'review'.

    A check is {group, resource ('pods/log' = resource/subresource), verb[, name][, cluster_scoped][, when]
    [, key]}, or {api_version, kind, verb, ...} (apps/v1 Deployment = group apps, resource deployments).
    `when` false (bool or its words) drops it. Namespaced checks are made in `namespace`; a cluster-scoped
    one has no namespace. `key` (default <resource>_<verb>) names it in release_can. Repeated checks are
    made once."""
    result = []
    seen = set()
    for check in checks or []:
        check = _with_resource(check)
        if not isinstance(check, dict) or not check.get("resource") or not check.get("verb"):
            raise ValidationError("%s: an access check needs group, resource and verb" % _short(check, 80))
        try:
            if not parse_bool(check.get("when", True)):
                continue
            cluster_scoped = parse_bool(check.get("cluster_scoped", False), allow_empty=True)
        except ValidationError as exc:
            raise ValidationError(
                "access check %s %s: when/cluster_scoped %s" % (check["verb"], check["resource"], exc)
            )
        resource, _sep, subresource = str(check["resource"]).partition("/")
        attributes = {"group": str(check.get("group") or ""), "resource": resource, "verb": str(check["verb"])}
        if subresource:
            attributes["subresource"] = subresource
        if check.get("name"):
            attributes["name"] = str(check["name"])
        if not cluster_scoped:
            attributes["namespace"] = namespace
        identity = tuple(sorted(attributes.items()))
        if identity in seen:
            continue
        seen.add(identity)
        default_key = "%s_%s" % (
            resource.replace("-", "_") + (("_" + subresource) if subresource else ""),
            check["verb"],
        )
        result.append(
            {
                "key": str(check.get("key") or default_key),
                "group": attributes["group"],
                "resource": str(check["resource"]),
                "verb": attributes["verb"],
                "cluster_scoped": cluster_scoped,
                "review": {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": attributes},
                },
            }
        )
    return result


def describe_check(check):
    group = check.get("group") or ""
    return "%s %s%s" % (check.get("verb"), check.get("resource"), ("." + group) if group else "")


def access_denied(checks, reviews):
    """The checks whose review did not answer allowed=true (a missing answer counts as denied)."""
    denied = []
    for index, check in enumerate(checks or []):
        review = reviews[index] if reviews and index < len(reviews) else None
        status = (review or {}).get("status") or {}
        if status.get("allowed") is not True:
            denied.append(check)
    return denied


def access_results(checks, reviews):
    """{'denied': ['verb resource.group', ...], 'can': {key: bool}} from access_checks and their reviews."""
    denied = access_denied(checks, reviews)
    denied_ids = set(id(c) for c in denied)
    return {
        "denied": [describe_check(c) for c in denied],
        "can": dict((c["key"], id(c) not in denied_ids) for c in checks or []),
    }
