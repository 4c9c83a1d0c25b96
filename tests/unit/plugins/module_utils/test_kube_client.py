"""plugins/module_utils/kube_client.py: which connections the light client makes (and which it leaves to the
kubernetes client), read from options, K8S_AUTH_* variables, kubeconfigs and the pod's service account."""

from __future__ import annotations

import base64

import pytest
from fake_api import FakeApiError  # pylint: disable=import-error

from ansible_collections.intelligent_agent.platform.plugins.module_utils import kube_client as kc

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()


def kubeconfig(user, cluster=None, current="local"):
    return {
        "current-context": current,
        "contexts": [
            {"name": "local", "context": {"cluster": "c1", "user": "u1"}},
            {"name": "other", "context": {"cluster": "c2", "user": "u1"}},
        ],
        "clusters": [
            {
                "name": "c1",
                "cluster": dict(
                    {"server": "https://127.0.0.1:6443/", "certificate-authority-data": CA}, **(cluster or {})
                ),
            },
            {"name": "c2", "cluster": {"server": "https://other:6443", "certificate-authority": "ca.crt"}},
        ],
        "users": [{"name": "u1", "user": user}],
    }


def settings(auth, environ=None, files=None):
    files = files or {}
    return kc.light_settings(auth, environ or {}, files.__getitem__, files.__contains__)


def test_options_win_over_k8s_auth_variables_and_booleans_read_like_kubernetes_core():
    environ = {"K8S_AUTH_HOST": "https://env", "K8S_AUTH_VERIFY_SSL": "no", "K8S_AUTH_API_KEY": "t0ken"}
    auth = kc.auth_options({"host": "https://param", "validate_certs": None}, environ)
    assert auth == {"host": "https://param", "api_key": "t0ken", "validate_certs": False}
    assert kc.auth_options({}, {"K8S_AUTH_VALIDATE_CERTS": "yes"}) == {"validate_certs": True}


def test_an_awx_kubernetes_credential_connects_with_host_and_token():
    auth = kc.auth_options(
        {}, {"K8S_AUTH_HOST": "https://api:6443/", "K8S_AUTH_API_KEY": "t", "K8S_AUTH_SSL_CA_CERT": "/ca"}
    )
    assert settings(auth) == {"server": "https://api:6443", "token": "t", "ca_file": "/ca", "insecure": False}


def test_a_kubeconfig_context_with_certificate_data():
    files = {"/k/config": kubeconfig({"client-certificate-data": CA, "client-key-data": CA})}
    found = settings({"kubeconfig": "/k/config"}, files=files)
    assert found["server"] == "https://127.0.0.1:6443"
    assert found["ca_data"].startswith(b"-----BEGIN") and found["cert_data"] and found["key_data"]
    assert found["insecure"] is False


def test_a_named_context_and_relative_paths_resolve_against_the_kubeconfig_folder():
    files = {"/k/config": kubeconfig({"token": "abc"})}
    found = settings({"kubeconfig": "/k/config", "context": "other"}, files=files)
    assert found == {"server": "https://other:6443", "ca_file": "/k/ca.crt", "token": "abc", "insecure": False}


def test_explicit_options_override_the_kubeconfig():
    files = {"/k/config": kubeconfig({"token": "abc"})}
    found = settings({"kubeconfig": "/k/config", "validate_certs": False, "api_key": "other"}, files=files)
    assert (found["insecure"], found["token"]) == (True, "other")


@pytest.mark.parametrize(
    "user",
    [
        {"exec": {"command": "aws", "args": ["eks", "get-token"]}},
        {"auth-provider": {"name": "oidc"}},
        {"username": "admin", "password": "secret"},
        {"token": "abc", "as": "someone"},
    ],
)
def test_plugins_and_impersonation_in_a_kubeconfig_are_left_to_the_kubernetes_client(user):
    assert settings({"kubeconfig": "/k/config"}, files={"/k/config": kubeconfig(user)}) is None


@pytest.mark.parametrize(
    "auth",
    [
        {"host": "https://api", "api_key": "t", "proxy": "http://proxy:3128"},
        {"host": "https://api", "api_key": "t", "impersonate_user": "someone"},
        {"host": "https://api", "username": "u", "password": "p"},
        {"kubeconfig": "/k/config", "persist_config": True},
        {"kubeconfig": "/k/config", "proxy_headers": True},
    ],
)
def test_options_this_client_does_not_implement_are_left_to_the_kubernetes_client(auth):
    assert settings(auth, files={"/k/config": kubeconfig({"token": "abc"})}) is None


def test_a_proxy_cluster_or_a_missing_context_is_left_to_the_kubernetes_client():
    files = {"/k/config": kubeconfig({"token": "abc"}, cluster={"proxy-url": "http://p:3128"})}
    assert settings({"kubeconfig": "/k/config"}, files=files) is None
    assert settings({"kubeconfig": "/k/config", "context": "nope"}, files={"/k/config": kubeconfig({})}) is None


def test_the_pods_service_account_is_used_when_nothing_names_a_cluster():
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    files = {kc.IN_CLUSTER_DIR + "/token": None}
    assert settings({}, environ, files) == {
        "server": "https://[fd00::1]:443",
        "insecure": False,
        "ca_file": kc.IN_CLUSTER_DIR + "/ca.crt",
        "token_file": kc.IN_CLUSTER_DIR + "/token",
    }


def test_kubeconfig_from_the_environment_and_merged_paths():
    files = {"/k/one": kubeconfig({"token": "abc"})}
    assert settings({}, {"KUBECONFIG": "/k/one"}, files)["token"] == "abc"
    assert settings({}, {"KUBECONFIG": "/k/one:/k/two"}, files) is None
    assert settings({"kubeconfig": "/k/missing"}, files=files) is None


def test_an_in_memory_kubeconfig_dict():
    assert settings({"kubeconfig": kubeconfig({"token": "abc"})})["token"] == "abc"


def test_light_client_never_raises_on_a_setting_it_cannot_read():
    assert kc.light_client({"kubeconfig": "/nonexistent/config"}, environ={}) is None


class RaisingClient:
    """The kubernetes ApiClient's way: an HTTP error raised with its body, a transport failure without a status."""

    def __init__(self, error):
        self.error = error

    def call_api(self, *args, **kwargs):
        raise self.error


class AnsweringClient:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def call_api(self, path, method, **kwargs):
        self.calls.append((method, path, kwargs))
        return self.answer


def test_send_gives_a_raised_http_error_as_a_response_with_its_body():
    response = kc.send(RaisingClient(FakeApiError(409, {"reason": "Conflict"})), "PUT", "/api/v1/x")
    assert (response.status, response.data) == (409, b'{"reason": "Conflict"}')
    response.release_conn()


def test_send_lets_a_failure_to_get_an_answer_raise():
    with pytest.raises(ConnectionRefusedError):
        kc.send(RaisingClient(ConnectionRefusedError("refused")), "GET", "/api/v1/x")


def test_send_unwraps_the_kubernetes_clients_tuple_and_passes_the_request_on():
    answer = kc.LightResponse(200, b"{}")
    client = AnsweringClient((answer, 200, {}))
    assert (
        kc.send(client, "GET", "/api/v1/pods", [("limit", 1)], headers={"Accept": "*/*"}, request_timeout=5) is answer
    )
    method, path, kwargs = client.calls[0]
    assert (method, path, kwargs["query_params"], kwargs["header_params"]) == (
        "GET",
        "/api/v1/pods",
        [("limit", 1)],
        {"Accept": "*/*"},
    )
    assert (kwargs["_preload_content"], kwargs["_request_timeout"]) == (False, 5)
