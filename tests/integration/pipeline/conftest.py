"""Figures measured by the pipeline tests, printed in pytest's terminal summary."""

from __future__ import annotations

FIGURES: list[tuple[str, str]] = []


def record_figure(name: str, value: str) -> None:
    """Remember one measured figure (and print it for -s runs)."""
    FIGURES.append((name, value))
    print(f"[pipeline] {name}: {value}")


def pytest_terminal_summary(terminalreporter):  # noqa: D103 - pytest hook
    if not FIGURES:
        return
    terminalreporter.section("deploy pipeline: measured figures")
    for name, value in FIGURES:
        terminalreporter.write_line(f"{name:60s} {value}")
