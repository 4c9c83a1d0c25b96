"""Pure figures: median/min/max of the runs, ratio to the fastest peer, the text table and the JSON rows.

No cluster, no subprocess: tests/unit/bench tests this module.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field


@dataclass
class Row:
    """One measured figure of one peer in one scenario, with the value of every run."""

    scenario: str
    peer: str
    measure: str
    values: list = field(default_factory=list)
    unit: str = "s"
    note: str = ""
    # Rows of the same scenario and measure are compared with each other (ratio to the fastest median).
    compare: bool = True
    # What the compact table shows instead of the median (e.g. "0 of 1480" requests failed).
    text: str = ""

    def add(self, value) -> None:
        self.values.append(value)


def summarize(values) -> dict | None:
    """Median, min and max of the numeric values (None values are runs that gave no figure)."""
    numbers = [float(v) for v in values if v is not None]
    if not numbers:
        return None
    return {
        "runs": len(numbers),
        "median": statistics.median(numbers),
        "min": min(numbers),
        "max": max(numbers),
    }


def ratios(rows: list[Row]) -> dict[int, float | None]:
    """Median of each row divided by the smallest median among the rows of its scenario and measure.

    Keyed by the row's index in `rows`. None when the row is not compared, has no figure, or the fastest
    median is 0 (a ratio to zero means nothing).
    """
    best: dict[tuple[str, str], float] = {}
    for row in rows:
        summary = summarize(row.values)
        if row.compare and summary is not None:
            key = (row.scenario, row.measure)
            best[key] = min(best.get(key, summary["median"]), summary["median"])
    out: dict[int, float | None] = {}
    for index, row in enumerate(rows):
        summary = summarize(row.values)
        fastest = best.get((row.scenario, row.measure))
        if not row.compare or summary is None or not fastest:
            out[index] = None
        else:
            out[index] = summary["median"] / fastest
    return out


def fmt_number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s" and value < 0.95:
        return f"{value:.2f} s"
    if unit == "s":
        return f"{value:.1f} s" if value < 100 else f"{value:.0f} s"
    if float(value).is_integer():
        return f"{int(value)}{(' ' + unit) if unit else ''}"
    return f"{value:.1f}{(' ' + unit) if unit else ''}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return "1.0x (fastest)" if abs(ratio - 1.0) < 0.05 else f"{ratio:.1f}x"


HEADER = ("scenario", "peer", "measure", "runs", "median", "min", "max", "vs fastest", "note")


def table_cells(rows: list[Row]) -> list[tuple[str, ...]]:
    ratio = ratios(rows)
    cells = []
    for index, row in enumerate(rows):
        summary = summarize(row.values)
        runs = f"{summary['runs']}" if summary else "0"
        if summary and summary["runs"] < len(row.values):
            runs += f" of {len(row.values)}"
        cells.append(
            (
                row.scenario,
                row.peer,
                row.measure,
                runs,
                fmt_number(summary["median"] if summary else None, row.unit),
                fmt_number(summary["min"] if summary else None, row.unit),
                fmt_number(summary["max"] if summary else None, row.unit),
                fmt_ratio(ratio[index]),
                row.note,
            )
        )
    return cells


def format_table(rows: list[Row]) -> str:
    """A Markdown table (readable as plain text too): one line per row, columns padded."""
    cells = [HEADER] + table_cells(rows)
    widths = [max(len(line[col]) for line in cells) for col in range(len(HEADER))]

    def line(values) -> str:
        return "| " + " | ".join(v.ljust(widths[i]) for i, v in enumerate(values)) + " |"

    out = [line(HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(c) for c in cells[1:]]
    return "\n".join(out)


def rows_json(rows: list[Row]) -> list[dict]:
    ratio = ratios(rows)
    out = []
    for index, row in enumerate(rows):
        summary = summarize(row.values) or {}
        out.append(
            {
                "scenario": row.scenario,
                "peer": row.peer,
                "measure": row.measure,
                "unit": row.unit,
                "values": row.values,
                "runs": summary.get("runs", 0),
                "median": summary.get("median"),
                "min": summary.get("min"),
                "max": summary.get("max"),
                "ratio_to_fastest": ratio[index],
                "note": row.note,
            }
        )
    return out


def fmt_duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def order_rows(rows: list[Row], peer_order: tuple[str, ...]) -> list[Row]:
    """Rows by scenario number, then by measure (in the order measures first appeared), then by peer
    (the first prefix of peer_order a peer's name starts with; unknown peers last)."""
    measures: list[tuple[str, str]] = []
    for row in rows:
        if (row.scenario, row.measure) not in measures:
            measures.append((row.scenario, row.measure))

    def scenario_key(name: str):
        # Natural order: "5 scale N=50" before "5 scale N=200".
        return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]

    def peer_rank(name: str) -> int:
        for rank, prefix in enumerate(peer_order):
            if name.startswith(prefix):
                return rank
        return len(peer_order)

    return sorted(
        rows, key=lambda r: (scenario_key(r.scenario), measures.index((r.scenario, r.measure)), peer_rank(r.peer))
    )


COMPACT_COLUMNS = ("collection", "kubectl", "helm", "kubernetes.core")


def peer_family(peer: str) -> str | None:
    """The compact table's column of a peer (None: not shown there)."""
    if peer.startswith(("deploy.yml", "rollout_wait")):
        return "collection"
    for family in COMPACT_COLUMNS[1:]:
        if peer.startswith(family):
            return family
    return None


def compact_cell(row: Row) -> str:
    if row.text:
        return row.text
    summary = summarize(row.values)
    if summary is None:
        return "not by itself" if row.note.startswith("not back by itself") else "-"
    cell = fmt_number(summary["median"], row.unit)
    if summary["runs"] > 1:
        cell += f" ({fmt_number(summary['min'], '').strip()}-{fmt_number(summary['max'], row.unit)})"
    return cell


def compact_table(rows: list[Row]) -> str:
    """One line per scenario and measure, one column per peer: `median (min-max)` (the README's table).
    A peer variant with its default timeout (its label says "default") is added to the peer's cell."""
    lines: dict[tuple[str, str], dict[str, str]] = {}
    extra: dict[tuple[str, str, str], str] = {}
    for row in rows:
        family = peer_family(row.peer)
        if family is None:
            continue
        if "default" in row.peer:
            extra[(row.scenario, row.measure, family)] = compact_cell(row)
        else:
            lines.setdefault((row.scenario, row.measure), {})[family] = compact_cell(row)
    header = ("scenario: measure",) + COMPACT_COLUMNS
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for (scenario, measure), cells in lines.items():
        values = []
        for column in COMPACT_COLUMNS:
            cell = cells.get(column, "")
            if (scenario, measure, column) in extra:
                cell += f"; default timeout: {extra[(scenario, measure, column)]}"
            values.append(cell)
        out.append("| " + " | ".join([f"{scenario}: {measure}"] + values) + " |")
    return "\n".join(out)
