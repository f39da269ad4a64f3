"""YAML with positions: the parsed data as plain dicts and lists, and where each key and item stands."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from podium.core.errors import Problem, WorkflowError

Path_ = tuple[str | int, ...]
Positions = dict[Path_, tuple[int, int]]


def dotted(path: Path_) -> str:
    """A path as the user writes it: ('steps', 'a', 'needs', 0) → steps.a.needs[0]."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _plain(node: Any, path: Path_, positions: Positions) -> Any:
    """CommentedMap/Seq → dict/list, recording the 1-based (line, column) of every key and item."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            sub = (*path, str(key))
            try:
                line, col = node.lc.key(key)
            except (KeyError, TypeError):
                line, col = node.lc.line, node.lc.col
            positions[sub] = (line + 1, col + 1)
            out[str(key)] = _plain(value, sub, positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            try:
                line, col = node.lc.item(i)
                positions[(*path, i)] = (line + 1, col + 1)
            except (KeyError, TypeError, IndexError):
                pass
            items.append(_plain(value, (*path, i), positions))
        return items
    if isinstance(node, str):
        return str(node)
    return node


def _parse_yaml(text: str, file: str) -> tuple[Any, Positions]:
    yaml = YAML(typ="rt", pure=True)
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        raise WorkflowError(
            [
                Problem(
                    file,
                    "",
                    f"malformed YAML: {problem}",
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                    fix="fix the YAML syntax at that line (indentation, quoting, a missing colon)",
                )
            ]
        ) from None
    except YAMLError as exc:
        raise WorkflowError([Problem(file, "", f"malformed YAML: {exc}")]) from None
    positions: Positions = {}
    return _plain(data, (), positions), positions


def read_yaml(text: str, file: str) -> tuple[Any, Positions]:
    """YAML text as plain data and the (line, column) of every key and item; malformed YAML is a
    WorkflowError naming `file` and the line. Other input files (model classes) are read the same way."""
    return _parse_yaml(text, file)
