"""One function per command: call the library, hand the result to a renderer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    handler = HANDLERS[args.command]
    return handler(args)


def cmd_validate(args: argparse.Namespace) -> int:
    from anyport.catalog import validate_files

    paths = [Path(f) for f in args.files]
    count, problems = validate_files(paths)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"anyport: {len(problems)} problem(s) in {len(paths)} file(s)", file=sys.stderr)
        return 2
    print(f"ok: {count} service(s) in {len(paths)} file(s)")
    return 0


HANDLERS = {
    "validate": cmd_validate,
}
