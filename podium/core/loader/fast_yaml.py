"""A workflow's YAML read by libyaml, fast, when it reads exactly as ruamel (YAML 1.2) would read it.

ruamel is pure Python: a 10,000-step file takes seconds to read. libyaml (PyYAML's `CSafeLoader`) reads
it in a fraction of that, but PyYAML resolves plain scalars by YAML 1.1 (`yes` and `on` are booleans,
`0755` is octal, `1:20` is sexagesimal, dates are timestamps) and keeps the last of two equal keys. So
the loader here resolves only the plain scalars whose meaning is the same in both (YAML 1.2 booleans,
nulls, decimal integers and simple decimal floats; everything else is text) and gives up, with
`NotFast`, on anything else ruamel would read as something other than text (other number forms,
timestamps, merge keys), on explicit tags and anchors, on duplicate keys, on non-text keys, on
directives and tabs, and on anything libyaml finds malformed. The caller then reads the file with
ruamel, which also keeps the line numbers a problem needs.
"""

from __future__ import annotations

import gc
import re
from typing import Any

try:
    import yaml
    from yaml import CSafeLoader as _CLoader
    from yaml.nodes import Node, ScalarNode, SequenceNode
except ImportError:  # no PyYAML, or PyYAML built without libyaml: ruamel reads every file
    _CLoader = None  # type: ignore[assignment,misc]

__all__ = ["NotFast", "available", "read_fast"]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)\.[0-9]+$")

# Every other plain scalar ruamel's YAML 1.2 resolver reads as not text (its own patterns, widened
# where that is cheaper): these send the file to ruamel rather than guess how it reads them.
_NOT_TEXT = re.compile(
    r"""^(?:
        [-+]?[0-9_]*\.?[0-9_]*(?:[eE][-+]?[0-9]+)?
      | [-+]?0b[0-1_]+
      | [-+]?0o?[0-7_]+
      | [-+]?0x[0-9a-fA-F_]+
      | [-+]?\.(?:inf|Inf|INF)
      | \.(?:nan|NaN|NAN)
      | [0-9][0-9][0-9][0-9]-.*
      | <<
      | =
      | [!&*]
    )$""",
    re.X,
)

# Where a node may start: a core tag (`!!str 1`, `!<tag:yaml.org,2002:str> 1`), the non-specific tag
# (`! 1`) or an anchor (`&x`). ruamel's round trip reads a tagged node into its own types (`!!str 1` is
# a TaggedScalar), an anchored scalar into a subclass (`&x true` is a ScalarBoolean), and copies what an
# alias names where PyYAML shares it. Any other tag (`!x`) is unknown to `_build`, which gives up on it.
# A match inside text (" &more") only costs the slow read; `!=` in a template does not match.
_TAG_OR_ANCHOR = re.compile(r"(?:^|[\s\[{,:])(?:&\S|!(?:[!<\s]|$))", re.M)

_STR = "tag:yaml.org,2002:str"
_TAGS = {
    "null": "tag:yaml.org,2002:null",
    "bool": "tag:yaml.org,2002:bool",
    "int": "tag:yaml.org,2002:int",
    "float": "tag:yaml.org,2002:float",
    "slow": "tag:podium,2026:ruamel-decides",
}


class NotFast(Exception):
    """The text may read differently in libyaml than in ruamel, or is malformed: read it with ruamel."""


def available() -> bool:
    """Whether libyaml is there to read with."""
    return _CLoader is not None


def _resolvers() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """The patterns above by the first characters they can match, in order: the first match wins."""
    table: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    rules = [
        ("null", _NULL, ["~", "n", "N", ""]),
        ("bool", _BOOL, list("tTfF")),
        ("int", _INT, list("-+0123456789")),
        ("float", _FLOAT, list("-+0123456789")),
        ("slow", _NOT_TEXT, list("-+0123456789._<=!&*")),
    ]
    for name, pattern, firsts in rules:
        for first in firsts:
            table.setdefault(first, []).append((_TAGS[name], pattern))
    return table


_RESOLVERS = _resolvers()
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_SCALARS: dict[str, Any] = {
    _TAGS["null"]: lambda value: None,
    _TAGS["bool"]: lambda value: value[0] in "tT",
    _TAGS["int"]: int,
    _TAGS["float"]: float,
}


if _CLoader is not None:

    class _Composer(_CLoader):  # type: ignore[misc,valid-type]
        """libyaml's parser and composer; the nodes are built into data by `_build`, not by PyYAML's
        constructor, which keeps state for anchors and recursion a file read here cannot have."""

        def __init__(self, text: str) -> None:
            super().__init__(text)
            # the same words come back on every step (agent, needs, prompt, a shared prompt): match once
            self._plain_tags: dict[str, str] = {}

        def resolve(self, kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
            if kind is ScalarNode:
                if not implicit[0]:
                    return _STR
                tag = self._plain_tags.get(value)
                if tag is None:
                    tag = next((t for t, p in _RESOLVERS.get(value[:1], ()) if p.match(value)), _STR)
                    self._plain_tags[value] = tag
                return tag
            return _SEQ if kind is SequenceNode else _MAP


def _build(node: Any, seen: set[int]) -> Any:
    tag = node.tag
    if tag == _STR:
        return node.value
    # libyaml shares an aliased node, and building it once per alias is how an alias bomb explodes;
    # a file with aliases is ruamel's to read, under its budget (the text check above should have
    # sent it there already). Nesting is bounded by libyaml (1000 levels) and by RecursionError.
    if id(node) in seen:
        raise NotFast
    seen.add(id(node))
    if tag == _MAP:
        data: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, seen)
            # ruamel reports a duplicate key, and reads a key that is not text its own way
            if type(key) is not str or key in data:
                raise NotFast
            data[key] = _build(value_node, seen)
        return data
    if tag == _SEQ:
        return [_build(child, seen) for child in node.value]
    convert = _SCALARS.get(tag)
    if convert is None:  # the tag that leaves the value to ruamel
        raise NotFast
    return convert(node.value)


def read_fast(text: str) -> Any:
    """The YAML text as plain dicts, lists and scalars, exactly as ruamel reads it; or `NotFast`."""
    if _CLoader is None:
        raise NotFast
    # a %YAML 1.1 directive changes how ruamel resolves scalars; %TAG changes what tags mean; libyaml
    # takes a tab where ruamel refuses some (`a:\tb`), and a refusal must stay one
    if text.startswith("%") or "\n%" in text or "\t" in text or _TAG_OR_ANCHOR.search(text):
        raise NotFast
    # A 10,000-step file makes ~90,000 nodes and as many values, none of them in a cycle: the cyclic
    # collector, run again and again as they pile up, took half the read. It is paused meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    composer = _Composer(text)
    try:
        node = composer.get_single_node()
        return None if node is None else _build(node, set())
    except (yaml.YAMLError, RecursionError):  # ruamel says what is malformed, and where
        raise NotFast from None
    finally:
        composer.dispose()
        if collecting:
            gc.enable()
