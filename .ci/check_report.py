"""Fail CI when the PostgreSQL tests did not run, or when any test was skipped without leave."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

#: Skips that are expected by design (SQLite has no row locks to race on).
EXPECTED_SKIP_REASONS = ("PostgreSQL-only",)


def main(path: str) -> int:
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    postgres_ran = [
        c
        for c in cases
        if "[postgres" in c.get("name", "") and c.find("skipped") is None and c.find("failure") is None
    ]
    unexpected_skips = []
    for case in cases:
        skipped = case.find("skipped")
        if skipped is None:
            continue
        reason = skipped.get("message", "")
        if not any(expected in reason for expected in EXPECTED_SKIP_REASONS):
            unexpected_skips.append(f"{case.get('classname')}::{case.get('name')}: {reason}")
    print(f"{len(cases)} test cases; {len(postgres_ran)} ran on PostgreSQL")
    if not postgres_ran:
        print("ERROR: no test ran on PostgreSQL", file=sys.stderr)
        return 1
    if unexpected_skips:
        print("ERROR: tests were skipped:\n  " + "\n  ".join(unexpected_skips), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
