"""Render the JSON lines written by the reliability trials as the RELIABILITY.md table.

UPDATEDESK_RELIABILITY_REPORT=/tmp/r.jsonl make reliability
uv run python -m tests.reliability.report /tmp/r.jsonl > RELIABILITY.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

HEADER = (
    "| fault or attack | kind | trials | submitted | lost | duplicated | illegal moves | stuck "
    "| recovery (median / max) | notes |"
)


def _recovery(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} s / {max(values):.2f} s"


def render(rows: list[dict[str, Any]], command: str) -> str:
    # One row per name: the lines of one name (one per database backend) are added up.
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen = latest.get(row["name"])
        if seen is None:
            latest[row["name"]] = {**row, "tests": [row["test"]], "recovery": list(row["recovery"])}
            continue
        for key in ("trials", "submitted", "lost", "duplicated", "illegal", "stuck"):
            seen[key] += row[key]
        seen["recovery"] += row["recovery"]
        seen["tests"].append(row["test"])
        seen["full"] = seen["full"] and row["full"]
        if row["note"] != seen["note"]:
            seen["note"] += f" / {row['note']}"
    order = {"fault": 0, "race": 1, "fuzz": 2, "attack": 3}
    lines = [
        "# Reliability and security trials",
        "",
        f"From the last full run: `{command}`.",
        "",
        "Columns: *submitted* counts the requests (or operations) the trial sent; *lost* the "
        "submitted ones that never reached a correct end state; *duplicated* step effects done twice "
        "or requests created twice; *illegal moves* audit-history rows whose (from, to) is not in "
        "`models.lifecycle.MOVES`; *stuck* requests not finished within the trial's deadline; "
        "*recovery* the time from the fault until the system served again.",
        "",
        HEADER,
        "|" + "---|" * 10,
    ]
    for row in sorted(latest.values(), key=lambda r: (order.get(r["kind"], 9), r["name"])):
        lines.append(
            f"| {row['name']} | {row['kind']} | {row['trials']} | {row['submitted']} | {row['lost']} "
            f"| {row['duplicated']} | {row['illegal']} | {row['stuck']} | {_recovery(row['recovery'])} "
            f"| {row['note']} ({', '.join(f'`{t}`' for t in row['tests'])}) |"
        )
    totals = {k: sum(r[k] for r in latest.values()) for k in ("lost", "duplicated", "illegal", "stuck")}
    lines += [
        "",
        f"Totals: lost {totals['lost']}, duplicated {totals['duplicated']}, "
        f"illegal moves {totals['illegal']}, stuck {totals['stuck']}.",
        "",
    ]
    if not all(r.get("full") for r in latest.values()):
        lines.append("Note: some rows come from a run with CI counts, not the full counts.\n")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report", type=Path)
    parser.add_argument("--command", default="UPDATEDESK_RELIABILITY_REPORT=FILE make reliability")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.report.read_text().splitlines() if line.strip()]
    sys.stdout.write(render(rows, args.command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
