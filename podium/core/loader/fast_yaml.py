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
    from yaml._yaml import CParser as _CParser
    from yaml.events import (
        DocumentEndEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
        StreamEndEvent,
    )
except ImportError:  # no PyYAML, or PyYAML built without libyaml: ruamel reads every file
    _CParser = None  # type: ignore[assignment,misc]

__all__ = ["NotFast", "available", "read_fast"]

# ruamel_read.MAX_DEPTH, not imported from there (that would import ruamel, which this read avoids)
MAX_DEPTH = 100

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
    return _CParser is not None


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
_NO_KEY = object()  # a mapping waiting for its next key
_SCALARS: dict[str, Any] = {
    _TAGS["null"]: lambda value: None,
    _TAGS["bool"]: lambda value: value[0] in "tT",
    _TAGS["int"]: int,
    _TAGS["float"]: float,
}


def _plain(value: str, tags: dict[str, str]) -> str:
    """The tag of a plain scalar: the first of the patterns above that matches it, else text."""
    tag = tags.get(value)
    if tag is None:
        tag = next((t for t, p in _RESOLVERS.get(value[:1], ()) if p.match(value)), _STR)
        tags[value] = tag
    return tag


def _build(parser: Any) -> Any:
    """The document of libyaml's events as data, built as the events come: no node tree.

    libyaml's composer would first make a node (and two marks) for every scalar, mapping and
    sequence: ~90,000 nodes for a 10,000-step file, ~38 MiB at once, whose freed memory the
    allocator keeps, interleaved with the workflow that outlives them. Here each event is let go of
    as soon as it is read. The same words come back on every step (agent, needs, prompt, a shared
    prompt): each text is kept once, and each plain scalar matched against the patterns once.
    """
    get = parser.get_event
    get()  # the stream's start
    event = get()
    if type(event) is StreamEndEvent:
        return None
    tags: dict[str, str] = {}
    texts: dict[str, str] = {}
    # the open mappings and sequences, innermost last, with the key each mapping waits to fill
    open_: list[Any] = []
    keys: list[Any] = []
    root: Any = None
    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent:
            # an anchor, an alias or an explicit tag is ruamel's to read (the text check should
            # have sent the file there already): libyaml shares an aliased value, which is how an
            # alias bomb explodes, and ruamel reads a tagged or anchored scalar into its own types
            if event.anchor is not None or event.tag is not None:
                raise NotFast
            text = event.value
            tag = _plain(text, tags) if event.implicit[0] else _STR
            if tag == _STR:
                value: Any = texts.setdefault(text, text) if len(text) <= 64 else text
            else:
                convert = _SCALARS.get(tag)
                if convert is None:  # the tag that leaves the value to ruamel
                    raise NotFast
                value = convert(text)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or event.tag is not None:
                raise NotFast
            open_.append({} if kind is MappingStartEvent else [])
            keys.append(_NO_KEY)
            if len(open_) >= MAX_DEPTH:  # ruamel refuses a file nested this deep, with its line
                raise NotFast
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            keys.pop()
            value = open_.pop()
        elif kind is DocumentEndEvent:
            break
        else:  # an alias
            raise NotFast
        if not open_:
            root = value
            continue
        into = open_[-1]
        if type(into) is list:
            into.append(value)
            continue
        key = keys[-1]
        if key is _NO_KEY:
            # ruamel reports a duplicate key, and reads a key that is not text its own way
            if type(value) is not str or value in into:
                raise NotFast
            keys[-1] = value
        else:
            into[key] = value
            keys[-1] = _NO_KEY
    if type(get()) is not StreamEndEvent:  # a second document: libyaml's composer refuses it too
        raise NotFast
    return root


def read_fast(text: str) -> Any:
    """The YAML text as plain dicts, lists and scalars, exactly as ruamel reads it; or `NotFast`."""
    if _CParser is None:
        raise NotFast
    # a %YAML 1.1 directive changes how ruamel resolves scalars; %TAG changes what tags mean; libyaml
    # takes a tab where ruamel refuses some (`a:\tb`), and a refusal must stay one
    if text.startswith("%") or "\n%" in text or "\t" in text or _TAG_OR_ANCHOR.search(text):
        raise NotFast
    # A 10,000-step file makes ~90,000 nodes and as many values, none of them in a cycle: the cyclic
    # collector, run again and again as they pile up, took half the read. It is paused meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    parser = _CParser(text)
    try:
        return _build(parser)
    except yaml.YAMLError:  # ruamel says what is malformed, and where
        raise NotFast from None
    finally:
        parser.dispose()
        if collecting:
            gc.enable()
