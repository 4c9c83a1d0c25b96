"""Fixtures of the role tests that need no cluster (helpers live in roles_helpers.py)."""

from __future__ import annotations

import pytest
import yaml

from roles_helpers import FAKE_SECRETS


@pytest.fixture(scope="session")
def fake_secrets() -> dict:
    return yaml.safe_load(FAKE_SECRETS.read_text())
