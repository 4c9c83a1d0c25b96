# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A light Kubernetes API client for the modules that speak raw JSON (``call_api`` only, no model classes).

Importing the kubernetes package costs about 0.3 s in every module process (it loads its ~700 model classes), more
than the requests a module makes. For the usual connections, a kubeconfig with a certificate or a token, explicit
host and token (an AWX Kubernetes credential), or the pod's service account, this client connects with urllib3 and
the kubeconfig alone. Any other setting (exec or auth-provider plugins, proxies, impersonation, basic auth, merged
KUBECONFIG paths) returns None from ``light_settings``: the module then uses the kubernetes client as before.

The options and K8S_AUTH_* variables are those of kubernetes.core, read with the same precedence.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import shutil
import ssl
import tempfile

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

# kubernetes.core option -> the other name (its alias) its K8S_AUTH_* variable may use
AUTH_OPTIONS = dict((name, (spec.get("aliases") or [None])[0]) for name, spec in AUTH_ARG_SPEC.items())
BOOL_OPTIONS = tuple(name for name, spec in AUTH_ARG_SPEC.items() if spec.get("type") == "bool")
# Settings this client does not implement: the kubernetes client handles them.
HEAVY_OPTIONS = (
    "username",
    "password",
    "proxy",
    "no_proxy",
    "persist_config",
    "impersonate_user",
    "impersonate_groups",
)
# What a kubeconfig user may hold for this client: a token or a client certificate.
LIGHT_USER_KEYS = frozenset(
    ("token", "tokenFile", "client-certificate", "client-certificate-data", "client-key", "client-key-data")
)
IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


# ---- pure helpers ----------------------------------------------------------------------------------------
def auth_options(params, environ):
    """The connection options as kubernetes.core reads them: the module's option, else K8S_AUTH_<NAME>."""
    auth = {}
    for name, other in AUTH_OPTIONS.items():
        value = params.get(name)
        if value is None:
            value = environ.get("K8S_AUTH_%s" % name.upper()) or (other and environ.get("K8S_AUTH_%s" % other.upper()))
            if value is not None and name in BOOL_OPTIONS:
                value = value.lower() not in ("0", "false", "no")
        if value is not None and value != "" and value != []:
            auth[name] = value
    if any(key.startswith("K8S_AUTH_PROXY_HEADERS_") for key in environ) or params.get("proxy_headers"):
        auth["proxy_headers"] = True
    return auth


def _pick(named_list, name):
    for item in named_list or []:
        if item.get("name") == name:
            return item
    return None


def from_kubeconfig(config, context_name, base_dir):
    """Settings {server, ca_data|ca_file, insecure, token, cert_data|cert_file, key_data|key_file} of a context;
    None when the context uses what this client does not implement."""
    context_name = context_name or config.get("current-context")
    context = (_pick(config.get("contexts"), context_name) or {}).get("context")
    if not context:
        return None
    cluster = (_pick(config.get("clusters"), context.get("cluster")) or {}).get("cluster") or {}
    user = (_pick(config.get("users"), context.get("user")) or {}).get("user") or {}
    if not cluster.get("server") or cluster.get("proxy-url") or cluster.get("tls-server-name"):
        return None
    if set(user) - LIGHT_USER_KEYS:
        return None  # exec, auth-provider, username/password, impersonation: the kubernetes client's job

    def path(value):
        return value if not value or os.path.isabs(value) else os.path.join(base_dir, value)

    settings = {"server": cluster["server"].rstrip("/"), "insecure": bool(cluster.get("insecure-skip-tls-verify"))}
    for key, data_key, file_key, source in (
        ("ca", "certificate-authority-data", "certificate-authority", cluster),
        ("cert", "client-certificate-data", "client-certificate", user),
        ("key", "client-key-data", "client-key", user),
    ):
        if source.get(data_key):
            settings[key + "_data"] = base64.b64decode(source[data_key])
        elif source.get(file_key):
            settings[key + "_file"] = path(source[file_key])
    if user.get("token"):
        settings["token"] = user["token"]
    elif user.get("tokenFile"):
        settings["token_file"] = path(user["tokenFile"])
    return settings


def in_cluster(environ, exists):
    """The pod's service account settings, or None outside a pod."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    token_file = os.path.join(IN_CLUSTER_DIR, "token")
    if not host or not port or not exists(token_file):
        return None
    host = "[%s]" % host if ":" in host else host
    return {
        "server": "https://%s:%s" % (host, port),
        "insecure": False,
        "ca_file": os.path.join(IN_CLUSTER_DIR, "ca.crt"),
        "token_file": token_file,
    }


def with_overrides(settings, auth):
    """The explicit options win over the kubeconfig's (as kubernetes.core sets them on the configuration)."""
    settings = dict(settings or {})
    if auth.get("host"):
        settings["server"] = auth["host"].rstrip("/")
    if auth.get("api_key"):
        settings["token"] = auth["api_key"]
        settings.pop("token_file", None)
    for option, key in (("ca_cert", "ca"), ("client_cert", "cert"), ("client_key", "key")):
        if auth.get(option):
            settings[key + "_file"] = auth[option]
            settings.pop(key + "_data", None)
    if "validate_certs" in auth:
        settings["insecure"] = not auth["validate_certs"]
    settings.setdefault("insecure", False)
    return settings


def light_settings(auth, environ, read_yaml, exists):
    """The settings for the light client, or None when the kubernetes client must connect."""
    if any(auth.get(option) for option in HEAVY_OPTIONS) or auth.get("proxy_headers"):
        return None
    if auth.get("host") and (auth.get("api_key") or (auth.get("client_cert") and auth.get("client_key"))):
        return with_overrides({}, auth)
    kubeconfig = auth.get("kubeconfig")
    if not kubeconfig and not auth.get("context"):
        pod = in_cluster(environ, exists)
        if pod:
            return with_overrides(pod, auth)
    if isinstance(kubeconfig, dict):
        config, base_dir = kubeconfig, os.getcwd()
    else:
        if not kubeconfig:
            paths = [p for p in (environ.get("KUBECONFIG") or "").split(os.pathsep) if p]
            if len(paths) > 1:
                return None  # merged kubeconfigs: the kubernetes client merges them
            kubeconfig = paths[0] if paths else os.path.join(os.path.expanduser("~"), ".kube", "config")
        kubeconfig = os.path.expanduser(kubeconfig)
        if not exists(kubeconfig):
            return None
        config, base_dir = read_yaml(kubeconfig), os.path.dirname(os.path.abspath(kubeconfig))
    settings = from_kubeconfig(config or {}, auth.get("context"), base_dir)
    return with_overrides(settings, auth) if settings else None


# ---- the client ------------------------------------------------------------------------------------------
class LightResponse(object):
    """What raw callers read of a kubernetes client response: status, data (bytes), release_conn()."""

    def __init__(self, status, data):
        self.status = status
        self.data = data

    def release_conn(self):
        pass


class LightClient(object):
    """``call_api`` over urllib3 with the kubeconfig's TLS and token: the subset of kubernetes.client.ApiClient
    the collection's raw-JSON code uses. HTTP errors are returned as responses, not raised."""

    def __init__(self, settings):
        import urllib3  # a dependency of the kubernetes client; imported here so the helpers above need nothing

        self.server = settings["server"]
        self.headers = {}
        token = settings.get("token")
        if settings.get("token_file"):
            with open(settings["token_file"]) as handle:
                token = handle.read().strip()
        if token:
            self.headers["Authorization"] = "Bearer %s" % token
        self.pool = urllib3.PoolManager(ssl_context=_ssl_context(settings), retries=False)
        self._urllib3 = urllib3

    def call_api(
        self,
        path,
        method,
        query_params=None,
        body=None,
        header_params=None,
        _request_timeout=None,
        _preload_content=True,
        **_,
    ):
        from urllib.parse import urlencode

        url = self.server + path + ("?" + urlencode(query_params) if query_params else "")
        headers = dict(self.headers)
        headers.update(header_params or {})
        timeout = _request_timeout
        if isinstance(timeout, (tuple, list)):
            timeout = self._urllib3.Timeout(connect=timeout[0], read=timeout[1])
        response = self.pool.request(
            method,
            url,
            body=json.dumps(body).encode("utf-8") if body is not None else None,
            headers=headers,
            timeout=timeout,
            preload_content=_preload_content,
        )
        if not _preload_content:
            return response  # a stream (a watch): status, data, stream(), close(), release_conn()
        return LightResponse(response.status, response.data)


def send(api_client, method, path, query=None, body=None, headers=None, request_timeout=30):
    """The unread response (status, data, release_conn()) of one raw JSON request, with this light client or a
    kubernetes ApiClient. An HTTP error is a response with either: the kubernetes client raises it, with the body
    read. A failure to get an answer (refused, reset, TLS, timeout) raises as the client raised it."""
    try:
        response = api_client.call_api(
            path,
            method,
            query_params=query or [],
            body=body,
            header_params=dict(headers or {"Accept": "application/json"}),
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=request_timeout,
        )
    except Exception as exc:  # pylint: disable=broad-except
        if getattr(exc, "status", None) is None:
            raise
        error_body = getattr(exc, "body", None) or b""
        return LightResponse(exc.status, error_body.encode("utf-8") if isinstance(error_body, str) else error_body)
    return response[0] if isinstance(response, tuple) else response


def _ssl_context(settings):
    # Only the cluster's CA is trusted when the kubeconfig names one (as kubectl does); the system's CAs otherwise.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if settings.get("insecure"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif settings.get("ca_data"):
        context.load_verify_locations(cadata=settings["ca_data"].decode("ascii"))
    elif settings.get("ca_file"):
        context.load_verify_locations(cafile=settings["ca_file"])
    else:
        context.load_default_certs()
    cert, key = settings.get("cert_file"), settings.get("key_file")
    if settings.get("cert_data") or settings.get("key_data"):
        # ssl loads a client certificate from files only: written to a private folder, loaded, removed.
        folder = tempfile.mkdtemp(prefix="ia-kube-")
        try:
            if settings.get("cert_data"):
                cert = _private_file(folder, "client.crt", settings["cert_data"])
            if settings.get("key_data"):
                key = _private_file(folder, "client.key", settings["key_data"])
            context.load_cert_chain(cert, key)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    elif cert:
        context.load_cert_chain(cert, key)
    return context


def _private_file(folder, name, data):
    path = os.path.join(folder, name)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    return path


def light_client(params, environ=None):
    """A LightClient for the module's connection options, or None when the kubernetes client must connect."""
    environ = os.environ if environ is None else environ

    def read_yaml(path):
        import yaml

        with open(path) as handle:
            return yaml.safe_load(handle)

    try:
        settings = light_settings(auth_options(params, environ), environ, read_yaml, os.path.exists)
        return LightClient(settings) if settings else None
    except Exception:  # pylint: disable=broad-except
        return None  # whatever this client cannot read, the kubernetes client reads and reports
