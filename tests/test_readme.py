"""The README's examples are real: each ``$ anyport ...`` in a console block is run and its output compared.

``pytest --update-golden`` rewrites the README's example output from the current behaviour.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conftest import run_cli

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def examples(text: str) -> list[tuple[str, str]]:
    """(command line, expected output) for every example."""
    found = []
    for block in BLOCK.findall(text):
        parts = re.split(r"^\$ ", block, flags=re.M)
        for part in parts[1:]:
            command, _, output = part.partition("\n")
            found.append((command, output))
    return found


def run_example(command: str) -> str:
    pipeline = [shlex.split(p) for p in command.split(" | ")]
    args = pipeline[0]
    assert args[0] == "anyport", command
    result = run_cli(*args[1:])
    output = result.stdout + result.stderr
    for stage in pipeline[1:]:
        assert stage[0] in ("head", "tail"), f"unsupported pipe in README: {stage}"
        assert stage[1].startswith("-"), f"unsupported pipe in README: {stage}"
        lines = output.splitlines(keepends=True)
        count = int(stage[1][1:].lstrip("n"))
        output = "".join(lines[:count] if stage[0] == "head" else lines[-count:])
    return output


def test_readme_has_examples() -> None:
    assert len(examples(README.read_text("utf-8"))) >= 5


@pytest.mark.parametrize("command", [c for c, _ in examples(README.read_text("utf-8"))])
def test_readme_example_output_is_real(command: str, request: pytest.FixtureRequest) -> None:
    text = README.read_text("utf-8")
    expected = dict(examples(text))[command]
    actual = run_example(command)
    if request.config.getoption("--update-golden"):
        updated = text.replace(f"$ {command}\n{expected}", f"$ {command}\n{actual}", 1)
        README.write_text(updated, "utf-8")
        return
    assert actual == expected, f"README example '{command}' is out of date; run 'make golden'"
