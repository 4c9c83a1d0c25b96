"""Registry login with credentials: a registry with htpasswd auth started by the test on a free port.
The role logs in, pushes, reads the digest with the credentials, logs out, and never prints the
password, even at -vv and when the password is wrong."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import uuid
import warnings
from pathlib import Path

import pytest

from image_helpers import free_port, http, manifest_digest, registry_tags


def _bcrypt(password):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # pylint: disable=deprecated-module

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    except (ImportError, AttributeError):
        bcrypt = pytest.importorskip("bcrypt")
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory, registry):
    binary = shutil.which("docker-registry")
    if not binary:
        pytest.skip("docker-registry is not installed (hack/install-system-deps.sh)")
    tmp = tmp_path_factory.mktemp("auth-registry")
    user, password = "deployer", f"pw-{uuid.uuid4().hex}"
    (tmp / "htpasswd").write_text(f"{user}:{_bcrypt(password)}\n")
    port = free_port()
    (tmp / "config.yml").write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "warn", "accesslog": {"disabled": True}},
                "storage": {
                    "filesystem": {"rootdirectory": str(tmp / "storage")},
                    "delete": {"enabled": True},
                },
                "http": {"addr": f"127.0.0.1:{port}"},
                "auth": {"htpasswd": {"realm": "it-image", "path": str(tmp / "htpasswd")}},
            }
        )
    )
    log = open(tmp / "registry.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([binary, "serve", str(tmp / "config.yml")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if http(f"http://127.0.0.1:{port}/v2/", timeout=2)[0] == 401:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError(f"the htpasswd registry did not start: {(tmp / 'registry.log').read_text()}")
        yield {"address": f"127.0.0.1:{port}", "user": user, "password": password}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _secrets(password, user):
    return [password, base64.b64encode(f"{user}:{password}".encode()).decode()]


def _docker_config_auths():
    path = Path.home() / ".docker" / "config.json"
    return json.loads(path.read_text()).get("auths", {}) if path.exists() else {}


def test_login_push_and_logout_without_printing_the_password(role, auth_registry, run_id):
    reg = auth_registry
    pushed = role(
        {
            "image_registry": reg["address"],
            "image_namespace": f"auth-{run_id}",
            "image_version": "1.0.0",
            "image_commit": f"a11ce{run_id}",
            "image_only_components": ["backend"],
            "image_registry_username": reg["user"],
            "image_registry_password": reg["password"],
        },
        verbosity=2,
    )
    for secret in _secrets(reg["password"], reg["user"]):
        assert secret not in pushed.output
    path = f"auth-{run_id}/backend"
    creds = (reg["user"], reg["password"])
    assert {"1.0.0", f"a11ce{run_id}"} <= registry_tags(path, registry=reg["address"], auth=creds)
    assert pushed.results["backend"]["digest"] == manifest_digest(path, "1.0.0", registry=reg["address"], auth=creds)
    # Logged out at the end: the engine's client config no longer holds the registry.
    assert reg["address"] not in _docker_config_auths()
    # Without credentials the registry refuses, and the role says which variables to set.
    anonymous = role(
        {
            "image_registry": reg["address"],
            "image_namespace": f"auth-{run_id}",
            "image_version": "1.0.0",
            "image_commit": f"a11ce{run_id}",
            "image_only_components": ["backend"],
        },
        expect_failure=True,
    )
    assert "image_registry_username" in anonymous.output


def test_wrong_password_fails_without_printing_it(role, auth_registry, run_id):
    reg = auth_registry
    wrong = f"wrong-{uuid.uuid4().hex}"
    failed = role(
        {
            "image_registry": reg["address"],
            "image_namespace": f"auth-{run_id}",
            "image_version": "2.0.0",
            "image_commit": f"a11ce{run_id}",
            "image_only_components": ["backend"],
            "image_registry_username": reg["user"],
            "image_registry_password": wrong,
        },
        expect_failure=True,
        verbosity=2,
    )
    for secret in _secrets(wrong, reg["user"]):
        assert secret not in failed.output
    assert reg["address"] not in _docker_config_auths()
