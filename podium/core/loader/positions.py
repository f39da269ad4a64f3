"""YAML with positions: the parsed data as plain dicts and lists, and where each key and item stands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ruamel.yaml import YAML

Path_ = tuple[str | int, ...]
Positions = dict[Path_, tuple[int, int]]


def dotted(path: Path_) -> str:
    """A path as the user writes it: ('steps', 'a', 'needs', 0) → steps.a.needs[0]."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def yaml_reader() -> YAML:
    """ruamel's round-trip reader with a depth limit and an alias budget: what every input file is read by."""
    from podium.core.loader import ruamel_read

    return ruamel_read.yaml_reader()


def _plain(node: Any, path: Path_, positions: Positions) -> Any:
    """ruamel's CommentedMap/Seq → dict/list, recording the 1-based (line, column) of every key and item."""
    from podium.core.loader import ruamel_read

    return ruamel_read._plain(node, path, positions)


def _parse_yaml(text: str, file: str) -> tuple[Any, Positions]:
    from podium.core.loader import ruamel_read

    return ruamel_read._parse_yaml(text, file)


def read_yaml(text: str, file: str) -> tuple[Any, Positions]:
    """YAML text as plain data and the (line, column) of every key and item; malformed YAML is a
    WorkflowError naming `file` and the line. Other input files (model classes) are read the same way."""
    return _parse_yaml(text, file)
