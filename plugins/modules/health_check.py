#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: health_check
short_description: Verify HTTP(S) endpoints after a rollout, with latency figures
version_added: 0.1.0
author: Intelligent Agent platform team (@intelligent-agent)
description:
  - Checks a list of HTTP(S) endpoints with C(requests) - expected status codes, a body substring or a JSON
    value at a dot path, a maximum latency, request headers, TLS verification with a CA bundle or a client
    certificate.
  - Each check must pass O(consecutive_successes) times in a row. A failed attempt is retried up to O(retries)
    times, after O(backoff) seconds doubling with each failure (at most 30 s). Everything ends at the overall
    O(deadline); no request is allowed to outlive it.
  - Returns per-check results with attempts, last status and latency (min/avg/max/last in ms); C(msg) names
    each failing check and why (wrong status, JSON value, body, too slow, connection refused, timeout, TLS).
  - Values of the headers named in C(secret_headers) never appear in the output (results, messages, the
    module invocation), and a password in a URL is masked.
requirements:
  - requests
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: A health check only reads, so in check mode it runs the checks that use GET, HEAD or OPTIONS
      and reports their results as usual; checks with other methods are skipped and reported as skipped.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  checks:
    description: The endpoints to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the check, used in messages and results.
        type: str
        required: true
      url:
        description: URL to request.
        type: str
        required: true
      method:
        description: HTTP method.
        type: str
        default: GET
      status_codes:
        description: Accepted status codes.
        type: list
        elements: int
        default: [200]
      body_contains:
        description: Text the response body must contain.
        type: str
      json_path:
        description:
          - Dot path into the JSON body (C(status), C(checks.db.ok), C(items.0.name)) that must exist.
        type: str
      json_equals:
        description:
          - Value expected at O(checks[].json_path), compared as JSON values; a string also matches a scalar
            whose JSON text it is (V(true), V(200)).
        type: raw
      max_latency_ms:
        description: Slowest acceptable response, in milliseconds, measured from sending to the full body.
        type: int
      headers:
        description: Request headers.
        type: dict
        default: {}
      secret_headers:
        description: Names of O(checks[].headers) whose values are secret; they are never printed.
        type: list
        elements: str
        default: []
      validate_certs:
        description: Verify the server's TLS certificate.
        type: bool
        default: true
      ca_path:
        description: CA bundle to verify the server's certificate with.
        type: path
      client_cert:
        description: Client certificate (PEM) for mutual TLS.
        type: path
      client_key:
        description: Key of O(checks[].client_cert), when not in the same file.
        type: path
      timeout:
        description: Seconds one request may take (also bounded by O(deadline)).
        type: float
        default: 10
  consecutive_successes:
    description: Successful attempts in a row each check needs.
    type: int
    default: 1
  retries:
    description: Failed attempts a check may have before it fails (the success streak restarts after each).
    type: int
    default: 3
  backoff:
    description: Seconds before the first retry; doubled for each further failure of the same check, at most 30.
    type: float
    default: 1
  interval:
    description: Seconds between two successful attempts when O(consecutive_successes) is more than 1.
    type: float
    default: 1
  deadline:
    description: Seconds all checks together may take.
    type: float
    default: 60
seealso:
  - module: intelligent_agent.platform.rollout_wait
  - module: ansible.builtin.uri
"""

EXAMPLES = r"""
- name: Verify the frontend and the backend answer
  intelligent_agent.platform.health_check:
    checks:
      - name: frontend
        url: http://127.0.0.1:30080/
        body_contains: Intelligent Agent
        max_latency_ms: 500
      - name: backend-health
        url: http://127.0.0.1:30500/health
        json_path: status
        json_equals: ok
        headers:
          Authorization: "Bearer {{ smoke_token }}"
        secret_headers: [Authorization]
    consecutive_successes: 3
    retries: 5
    deadline: 90

- name: Check an HTTPS endpoint with the cluster CA and a client certificate
  intelligent_agent.platform.health_check:
    checks:
      - name: api
        url: https://api.example.internal/readyz
        status_codes: [200, 204]
        ca_path: /etc/pki/internal-ca.pem
        client_cert: /etc/pki/smoke.crt
        client_key: /etc/pki/smoke.key
"""

RETURN = r"""
msg:
  description: Which checks failed and why, or that all passed with their average latency.
  returned: always
  type: str
  sample: "health check backend-health failed: JSON status is \"degraded\", expected ok
    (GET http://127.0.0.1:30500/health, 4 attempts)"
failed_checks:
  description: Names of the checks that failed.
  returned: always
  type: list
  elements: str
elapsed_s:
  description: Seconds all checks took.
  returned: always
  type: float
  sample: 1.42
checks:
  description: One result per check, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
    url:
      description: URL (a password in it masked).
      type: str
    method:
      description: HTTP method.
      type: str
    ok:
      description: Whether the check passed.
      type: bool
    skipped:
      description: True when check mode skipped it (not a read-only method).
      type: bool
    reason:
      description: Why it failed (last failure), or null.
      type: str
      sample: connection refused
    attempts:
      description: Requests sent.
      type: int
    failures:
      description: Failed attempts.
      type: int
    consecutive_successes:
      description: Successes in a row at the end.
      type: int
    last_status:
      description: Status code of the last response, or null when none came.
      type: int
    latency_ms:
      description: Latency of the responses in ms (min, avg, max, last); null values when none came.
      type: dict
      sample: {min: 2.1, avg: 3.4, max: 5.0, last: 2.9}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import requests
except ImportError:
    requests = None
    REQUESTS_ERROR = "requests"
else:
    REQUESTS_ERROR = None

from ansible_collections.intelligent_agent.platform.plugins.module_utils.health import run_checks, summary

CHECK_SPEC = dict(
    name=dict(type="str", required=True),
    url=dict(type="str", required=True),
    method=dict(type="str", default="GET"),
    status_codes=dict(type="list", elements="int", default=[200]),
    body_contains=dict(type="str"),
    json_path=dict(type="str"),
    json_equals=dict(type="raw"),
    max_latency_ms=dict(type="int"),
    headers=dict(type="dict", default={}),
    secret_headers=dict(type="list", elements="str", default=[], no_log=False),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),
    timeout=dict(type="float", default=10),
)


def make_sender(session):
    def send(check, timeout):
        verify = check["validate_certs"]
        if verify and check.get("ca_path"):
            verify = check["ca_path"]
        cert = None
        if check.get("client_cert"):
            cert = (check["client_cert"], check["client_key"]) if check.get("client_key") else check["client_cert"]
        response = session.request(
            check["method"].upper(),
            check["url"],
            headers=check["headers"] or {},
            verify=verify,
            cert=cert,
            timeout=timeout,
            allow_redirects=True,
        )
        return response.status_code, response.text

    return send


def module_spec():
    return dict(
        argument_spec=dict(
            checks=dict(type="list", elements="dict", required=True, options=CHECK_SPEC),
            consecutive_successes=dict(type="int", default=1),
            retries=dict(type="int", default=3),
            backoff=dict(type="float", default=1),
            interval=dict(type="float", default=1),
            deadline=dict(type="float", default=60),
        ),
        supports_check_mode=True,
    )


def run(module):
    if requests is None:
        module.fail_json(msg=missing_required_lib(REQUESTS_ERROR))
    params = module.params
    names = set()
    for index, check in enumerate(params["checks"]):
        # Secret header values are scrubbed from everything the module returns, the invocation included.
        wanted = set(h.lower() for h in check["secret_headers"])
        for header, value in (check["headers"] or {}).items():
            check["headers"][header] = str(value)
            if header.lower() in wanted and value not in (None, ""):
                module.no_log_values.add(str(value))
        if check["name"] in names:
            module.fail_json(msg="checks[%d].name %r is used twice; names must be unique" % (index, check["name"]))
        names.add(check["name"])
        if not check["url"].lower().startswith(("http://", "https://")):
            module.fail_json(
                msg="checks[%d].url must start with http:// or https:// (check %s)" % (index, check["name"])
            )
        if check["json_equals"] is not None and not check["json_path"]:
            module.fail_json(msg="checks[%d].json_equals needs json_path (check %s)" % (index, check["name"]))
    if params["consecutive_successes"] < 1:
        module.fail_json(msg="consecutive_successes must be 1 or more")
    for option in ("retries", "backoff", "interval"):
        if params[option] < 0:
            module.fail_json(msg="%s must be 0 or more" % option)
    if params["deadline"] <= 0:
        module.fail_json(msg="deadline must be more than 0")

    with requests.Session() as session:
        results, elapsed = run_checks(
            params["checks"],
            make_sender(session),
            consecutive_successes=params["consecutive_successes"],
            retries=params["retries"],
            backoff=params["backoff"],
            interval=params["interval"],
            deadline=params["deadline"],
            check_mode=module.check_mode,
        )
    failed = [r["name"] for r in results if not r["ok"]]
    output = dict(
        changed=False,
        checks=results,
        failed_checks=failed,
        elapsed_s=elapsed,
        msg=summary(results, params["consecutive_successes"]),
    )
    if failed:
        module.fail_json(**output)
    module.exit_json(**output)


def main():
    run(AnsibleModule(**module_spec()))


if __name__ == "__main__":
    main()
