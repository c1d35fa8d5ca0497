"""Read YAML into plain Python values that remember the line each value came from."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from anyport.errors import Problem

try:  # libyaml's composer is several times faster; the pure-Python one gives the same nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


class LocatedDict(dict[str, Any]):
    """A mapping that knows the line of itself and of each key."""

    line: int
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    """A sequence that knows the line of itself and of each item."""

    line: int
    item_lines: list[int]


class YamlSyntaxError(Exception):
    """The file is not well-formed YAML; carries a :class:`Problem`."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


_SCALARS = yaml.constructor.SafeConstructor()


MAX_VALUES = 500_000  # far above any real catalog; stops alias bombs ("billion laughs") from expanding


def read_yaml(text: str, filename: str) -> Any:
    """Parse one YAML document; mappings and lists come back located, scalars as Python values.

    Raises :class:`YamlSyntaxError` for malformed YAML, duplicate keys and non-string keys.
    """
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or "malformed YAML"
        raise YamlSyntaxError(
            Problem(filename, line, f"YAML syntax error: {what}; check indentation, quotes and colons")
        ) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Problem(filename, 1, f"YAML error: {exc}; fix the file's syntax")) from None
    if node is None:
        return None
    try:
        return _convert(node, filename, [0])
    except yaml.MarkedYAMLError as exc:  # e.g. an unknown tag such as !foo
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlSyntaxError(
            Problem(filename, line, f"YAML error: {exc.problem or exc}; remove the tag or quote the value")
        ) from None


def _convert(node: yaml.Node, filename: str, count: list[int]) -> Any:
    line = node.start_mark.line + 1
    count[0] += 1
    if count[0] > MAX_VALUES:
        raise YamlSyntaxError(
            Problem(filename, line, f"the file expands to more than {MAX_VALUES} values; remove YAML aliases (*name)")
        )
    if isinstance(node, yaml.MappingNode):
        result = LocatedDict()
        result.line = line
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, filename, count)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise YamlSyntaxError(
                    Problem(filename, key_line, f"key {key!r} is not a name; keys are words like 'id' or 'tcp'")
                )
            if key in result:
                raise YamlSyntaxError(
                    Problem(
                        filename,
                        key_line,
                        f"duplicate key {key!r} (first on line {result.key_lines[key]}); keep only one",
                    )
                )
            result[key] = _convert(value_node, filename, count)
            result.key_lines[key] = key_line
        return result
    if isinstance(node, yaml.SequenceNode):
        items = LocatedList()
        items.line = line
        items.item_lines = []
        for item in node.value:
            items.append(_convert(item, filename, count))
            items.item_lines.append(item.start_mark.line + 1)
        return items
    if node.tag == "tag:yaml.org,2002:timestamp":
        value = _SCALARS.construct_object(node)
        return value.date().isoformat() if isinstance(value, dt.datetime) else str(value)
    return _SCALARS.construct_object(node)
