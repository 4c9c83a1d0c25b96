"""The demo app's images run as they will in the cluster (read-only root, UID 1001, no capabilities,
tmpfs /tmp): health endpoints, Docker health checks, nginx features, the /api proxy on a user-defined
network, Prometheus metrics, and the deliberately broken releases."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import time

import pytest

from image_helpers import LOCAL_BASE_OVERRIDES, REGISTRY, http, run, wait_http

BASE_BACKEND = LOCAL_BASE_OVERRIDES["backend"]["build_args"]
BASE_FRONTEND = LOCAL_BASE_OVERRIDES["frontend"]["build_args"]


def image(release, name, version=None):
    return f"{REGISTRY}/{release['namespace']}/{name}:{version or release['version']}"


@pytest.fixture
def stack(release, containers):
    """Backend and frontend on one user-defined Docker network, the frontend proxying to the backend by name."""
    net = containers.network()
    backend = containers.start(image(release, "backend"), "backend", network=net, publish=5000)
    frontend = containers.start(
        image(release, "frontend"),
        "frontend",
        network=net,
        publish=8080,
        env={"BACKEND_URL": f"http://{backend}:5000"},
    )
    urls = {
        "backend": f"http://127.0.0.1:{containers.port(backend, 5000)}",
        "frontend": f"http://127.0.0.1:{containers.port(frontend, 8080)}",
    }
    for name, url in urls.items():
        try:
            wait_http(url + "/health", timeout=60)
        except AssertionError as exc:
            raise AssertionError(
                f"{name} never became healthy; logs:\n{containers.logs(backend if name == 'backend' else frontend)}"
            ) from exc
    return {"backend": backend, "frontend": frontend, "urls": urls}


def test_images_declare_user_1001_and_a_healthcheck(release):
    for name in ("frontend", "backend"):
        config = json.loads(
            run(
                [
                    "docker",
                    "image",
                    "inspect",
                    "-f",
                    "{{json .Config}}",
                    image(release, name),
                ]
            ).stdout
        )
        assert config["User"].split(":")[0] == "1001", f"{name}: User is {config['User']!r}"
        assert config["Healthcheck"]["Test"][0] in (
            "CMD",
            "CMD-SHELL",
        ), f"{name}: no HEALTHCHECK"


def test_hardened_containers_serve_health_and_pass_their_healthchecks(stack, containers):
    for name in ("frontend", "backend"):
        state = containers.inspect(stack[name])
        assert state["Config"]["User"] == "1001"
        assert state["HostConfig"]["ReadonlyRootfs"] is True
        assert state["HostConfig"]["CapDrop"] == ["ALL"]
        status, dummy, dummy = http(stack["urls"][name] + "/health")
        assert status == 200


def test_docker_healthcheck_turns_healthy(release, containers):
    # The image's own HEALTHCHECK command, run every second instead of every 30 s.
    started = {}
    for name in ("backend", "frontend"):
        env = {"BACKEND_URL": "http://127.0.0.1:5000"} if name == "frontend" else None
        started[name] = containers.start(
            image(release, name),
            f"hc-{name}",
            "--health-interval",
            "1s",
            "--health-start-period",
            "1s",
            env=env,
        )
    deadline = time.monotonic() + 90
    states = {}
    while time.monotonic() < deadline:
        states = {
            name: containers.inspect(cid)["State"].get("Health", {}).get("Status") for name, cid in started.items()
        }
        if all(s == "healthy" for s in states.values()):
            break
        time.sleep(1)
    assert all(s == "healthy" for s in states.values()), f"health: {states}"


def test_frontend_security_headers_gzip_cache_and_spa(stack):
    url = stack["urls"]["frontend"]
    status, headers, body = http(url + "/", headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("Content-Encoding") == "gzip"
    html = gzip.decompress(body).decode()
    assert "Intelligent Agent" in html
    for header in (
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Content-Security-Policy",
        "Strict-Transport-Security",
        "Referrer-Policy",
    ):
        assert headers.get(header), f"missing {header}"
    assert headers["X-Content-Type-Options"] == "nosniff"
    # Fingerprinted assets are cached for a year and keep the security headers.
    asset = html.split('src="', 1)[1].split('"', 1)[0]
    assert asset.startswith("/assets/app.") and asset.endswith(".js")
    status, headers, dummy = http(url + asset, headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert "max-age=31536000" in headers.get("Cache-Control", "")
    assert headers.get("X-Frame-Options")
    # Client-side routes fall back to index.html; hidden files are never served.
    status, dummy, body = http(url + "/status/deep/link")
    assert status == 200 and b"Intelligent Agent" in body
    status, dummy, dummy = http(url + "/.env")
    assert status == 404
    status, dummy, dummy = http(url + "/.git/config")
    assert status == 404


def test_frontend_proxies_api_to_the_backend_on_the_docker_network(stack, release):
    status, dummy, body = http(stack["urls"]["frontend"] + "/api/version")
    assert status == 200, body
    assert json.loads(body) == {
        "version": release["version"],
        "commit": release["commit"],
    }


def test_backend_endpoints_and_prometheus_metrics(stack, release):
    url = stack["urls"]["backend"]
    status, dummy, body = http(url + "/ready")
    assert status == 200, body
    for dummy in range(3):
        http(url + "/api/version")
    http(url + "/api/nope")
    status, headers, body = http(url + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    assert 'http_requests_total{method="GET",endpoint="/api/version",status="200"} 3' in text
    assert 'http_requests_total{method="GET",endpoint="/api/other",status="404"} 1' in text
    assert 'http_request_duration_seconds_bucket{method="GET",endpoint="/api/version",status="200",le="+Inf"} 3' in text
    assert f'app_info{{version="{release["version"]}",commit="{release["commit"]}"}} 1' in text
    promtool = shutil.which("promtool")
    if promtool:
        check = subprocess.run(
            [promtool, "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_backend_readiness_follows_its_dependencies(release, containers):
    net = containers.network()
    # A dependency that does not answer: not ready (but alive).
    lonely = containers.start(
        image(release, "backend"),
        "deps",
        network=net,
        publish=5000,
        env={"DATABASE_HOST": "nowhere.invalid", "READY_CHECK_TIMEOUT": "0.5"},
    )
    url = f"http://127.0.0.1:{containers.port(lonely, 5000)}"
    wait_http(url + "/health")
    status, dummy, body = http(url + "/ready")
    assert status == 503, body
    assert json.loads(body)["dependencies"][0]["target"] == "nowhere.invalid:5432"
    # The same with the checks switched off (the local demo without databases): ready.
    relaxed = containers.start(
        image(release, "backend"),
        "nodeps",
        network=net,
        publish=5000,
        env={"DATABASE_HOST": "nowhere.invalid", "READY_CHECK_DEPENDENCIES": "false"},
    )
    wait_http(f"http://127.0.0.1:{containers.port(relaxed, 5000)}/ready")


@pytest.fixture(scope="module")
def broken(role, release):
    """Deliberately broken releases built from the same sources with the BROKEN build arg."""
    source = {"context": "examples/demo-app/backend"}
    run_ = role(
        {
            "image_version": "1.0.0-broken",
            "image_commit": release["commit"],
            "image_components": [
                {"name": "backend-crash", **source, "build_args": {"BROKEN": "crash"}},
                {
                    "name": "backend-unready",
                    **source,
                    "build_args": {"BROKEN": "unready"},
                },
                {
                    "name": "frontend-crash",
                    "context": "examples/demo-app/frontend",
                    "build_args": {"BROKEN": "crash"},
                },
            ],
            "image_component_overrides": {
                "backend-crash": {"build_args": dict(BASE_BACKEND)},
                "backend-unready": {"build_args": dict(BASE_BACKEND)},
                "frontend-crash": {"build_args": dict(BASE_FRONTEND)},
            },
        }
    )
    return {name: result["reference"] for name, result in run_.results.items()}


def _wait_exit(containers, name, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = containers.inspect(name)["State"]
        if state["Status"] == "exited":
            return state["ExitCode"]
        time.sleep(0.5)
    raise AssertionError(f"{name} still runs after {timeout}s")


def test_broken_crash_releases_exit_at_start(broken, containers):
    for name in ("backend-crash", "frontend-crash"):
        cid = containers.start(broken[name], name)
        assert _wait_exit(containers, cid) != 0
        assert "deliberately broken" in containers.logs(cid)


def test_broken_unready_release_is_alive_but_never_ready(broken, containers):
    cid = containers.start(broken["backend-unready"], "unready", publish=5000)
    url = f"http://127.0.0.1:{containers.port(cid, 5000)}"
    wait_http(url + "/health")
    status, dummy, body = http(url + "/ready")
    assert status == 503
    assert b"BROKEN=unready" in body
