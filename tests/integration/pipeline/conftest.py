"""Figures measured by the pipeline tests, printed in pytest's terminal summary."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_helpers import FIGURES  # noqa: E402


def pytest_terminal_summary(terminalreporter):  # noqa: D103 - pytest hook
    if not FIGURES:
        return
    terminalreporter.section("deploy pipeline: measured figures")
    for name, value in FIGURES:
        terminalreporter.write_line(f"{name:60s} {value}")
