"""The files the demo app's images ship (nginx features of the frontend, both Dockerfiles), read as text. The
frontend's build stage (build.sh) runs in tests/functional/image/test_demo_frontend_build.py."""

from __future__ import annotations

import re
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[3] / "examples" / "demo-app" / "frontend"


def test_nginx_configuration_has_the_spec_features():
    main = (FRONTEND / "nginx" / "nginx.conf").read_text()
    server = (FRONTEND / "nginx" / "default.conf.template").read_text()
    headers = (FRONTEND / "nginx" / "security-headers.conf").read_text()
    assert "gzip on;" in main and "application/json" in main
    assert "pid /tmp/" in main and not re.search(r"^\s*user\s", main, re.M)
    for header in ("X-Frame-Options", "X-Content-Type-Options", "Content-Security-Policy", "Strict-Transport-Security"):
        assert header in headers
    assert "max-age=31536000" in server
    assert "location = /health" in server
    assert "location /api/" in server and "proxy_pass http://backend;" in server
    assert "try_files $uri $uri/ /index.html;" in server
    assert "location ~ /\\." in server


def test_dockerfiles_run_as_1001_with_healthchecks_and_base_image_args():
    for component in ("frontend", "backend"):
        text = (FRONTEND.parent / component / "Dockerfile").read_text()
        assert re.search(r"^USER 1001$", text, re.M), component
        assert "HEALTHCHECK" in text, component
        assert re.search(r"^ARG BUILD_IMAGE=", text, re.M) and re.search(r"^ARG RUNTIME_IMAGE=", text, re.M), component
        assert len(re.findall(r"^FROM ", text, re.M)) >= 2, f"{component}: not multi-stage"
        assert (FRONTEND.parent / component / ".dockerignore").is_file()
