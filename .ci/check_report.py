"""Fail CI when the PostgreSQL tests did not run, or when a test was skipped without leave.

A skip is allowed only for a `[sqlite...]` variant whose `[postgres...]` twin passed (some
behaviour, such as row locks or a second process sharing the database, only PostgreSQL can show),
or when its reason starts with TOOL_ABSENT: a check that needs a program this machine cannot get
(the docker compose plugin), whose ground the other tests cover. Those are printed, never silent.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

TOOL_ABSENT = "tool absent:"


def _id(case: ET.Element) -> str:
    return f"{case.get('classname')}::{case.get('name')}"


def _passed(case: ET.Element) -> bool:
    return all(case.find(tag) is None for tag in ("skipped", "failure", "error"))


def main(path: str) -> int:
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    passed = {_id(c) for c in cases if _passed(c)}
    postgres_ran = [c for c in cases if "[postgres" in (c.get("name") or "") and _id(c) in passed]
    unexpected_skips = []
    tool_skips = []
    for case in cases:
        skipped = case.find("skipped")
        if skipped is None:
            continue
        twin = _id(case).replace("[sqlite", "[postgres")
        if "[sqlite" in _id(case) and twin in passed:
            continue
        message = skipped.get("message", "")
        if TOOL_ABSENT in message:
            tool_skips.append(f"{_id(case)}: {message}")
            continue
        unexpected_skips.append(f"{_id(case)}: {message}")
    print(f"{len(cases)} test cases; {len(postgres_ran)} ran on PostgreSQL")
    for line in tool_skips:
        print(f"NOTE: skipped, a tool this machine lacks: {line}")
    if not postgres_ran:
        print("ERROR: no test ran on PostgreSQL", file=sys.stderr)
        return 1
    if unexpected_skips:
        print("ERROR: tests were skipped:\n  " + "\n  ".join(unexpected_skips), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
