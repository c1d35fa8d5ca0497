"""Measure how much of Wikipedia's "List of TCP and UDP port numbers" anyport's curated catalog covers.

Usage: python tools/wikipedia_coverage.py PATH/TO/clue_port_lookup_data.json [--missing N]

The scrape (CC BY-SA) is a checklist only: nothing from it is copied into anyport. A row counts as covered
when a curated service pins a port in the row's range (a fixed port, a numbered family or a narrow range,
not a broad range picked at run time); "answered" also counts IANA registrations. Rows marked as unofficial
use are reported on their own: they are the real-world uses a registry cannot tell you about.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from anyport.query.kb import KnowledgeBase
from anyport.query.lookup import lookup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--missing", type=int, default=0, help="list this many unofficial-use rows not covered")
    args = parser.parse_args()
    rows = json.loads(args.path.read_text("utf-8"))
    kb = KnowledgeBase.open()
    counts = {"all": [0, 0, 0], "unofficial": [0, 0, 0]}
    missing = []
    for row in rows:
        start, end = int(row["start"]), int(row["end"])
        query = str(start) if start == end else f"{start}-{end}"
        matches = lookup(kb, query).matches
        covered = any(m.pins_the_port for m in matches)
        answered = covered or any(m.source == "iana" for m in matches)
        unofficial = "nofficial" in row.get("summary", "") or "nofficial" in row.get("value", "")
        for key in ("all", "unofficial") if unofficial else ("all",):
            counts[key][0] += 1
            counts[key][1] += covered
            counts[key][2] += answered
        if unofficial and not covered:
            missing.append(f"{query}: {row['value'][:90]}")
    for key, (total, covered, answered) in counts.items():
        print(
            f"{key:<11} rows {total:5}  curated {covered:5} ({100 * covered / total:5.1f}%)"
            f"  curated or IANA {answered:5} ({100 * answered / total:5.1f}%)"
        )
    for line in missing[: args.missing]:
        print("  missing:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
