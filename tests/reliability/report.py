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


#: Attacks covered by the other suites (they run in every `make test`; not re-implemented here).
ELSEWHERE = """
## Covered by the other suites (run by `make test`, all passing)

| attack | cases | where |
|---|---|---|
| authorization matrix: every id-taking field, `node` for 5 types, nested lists, aliases mixing own and foreign ids, and the 6 id-taking mutations | 7 roles x own / connected / foreign district x 16 fields and mutations, per database backend | `tests/resolvers/test_authorization_matrix.py` |
| depth (10), alias (15), token (2000) limits; batches refused | 4 tests | `tests/schema/test_http_and_limits.py` |
| introspection and suggestions without a token | 1 test | `tests/schema/test_http_and_limits.py` |
| CSRF: GET mutations, form-encoded and multipart POSTs, malformed JSON | 4 tests | `tests/schema/test_http_and_limits.py` |
| internal faults masked ("Unexpected error.") and logged with the traceback | 1 test | `tests/schema/test_http_and_limits.py` |
| WebSocket without or with a bad token (4403), protocol abuse (4400/4401/4406/4408/4409/4429), slow subscriber (1013) | 11 tests | `tests/schema/test_subscription_protocol.py` |
| worker killed mid-step, finished by another without repeating steps | 1 test | `tests/workers/test_processes.py` |
| worker killed past its retries: given up when its lease lapses, site online, staff alerted | 1 test | `tests/workers/test_processes.py` |
"""  # noqa: E501

FOUND = """
## Found and fixed by these trials

1. **Database unreachable during sign-in gave an unhandled ASGI exception** (a 500 or a dropped
   connection, not the masked error): `authenticate()` runs in `get_context`, outside GraphQL
   execution. Now logged with its traceback and answered "Unexpected error."
   (`resolvers/context.py`, `schema/extensions.py`).
2. **JSON nested 100,000 deep gave a 500** (`RecursionError` out of `json.loads`): now 400 "The request
   body is nested too deeply." (`updatedesk/app.py`).
3. **No request body limit**: a 5 MB variables payload was read and parsed in full. Now bodies over
   1 MiB (`updatedesk.http.MAX_BODY_BYTES`) are refused with 413 before parsing
   (`updatedesk/http.py`, a pure ASGI middleware added in `create_app`).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report", type=Path)
    parser.add_argument("--command", default="UPDATEDESK_RELIABILITY_REPORT=FILE make reliability")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.report.read_text().splitlines() if line.strip()]
    sys.stdout.write(render(rows, args.command) + ELSEWHERE + FOUND)
    return 0


if __name__ == "__main__":
    sys.exit(main())
