"""What to write instead: a fix for each kind of wrong value, and one problem per union, not one per member.

pydantic names a value of the wrong type in its own words ("Input should be a valid string") and
says nothing of what to write; and a field that may take several shapes (`when:` text or a boolean,
a mock entry text, a reply mapping or a list) gives one error per shape, each at a location with the
shape's name in it (`steps.a.when.str`, `steps.a.when.bool`). Here those become what a user reads:
one problem at the field's own path, and a fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

# A union member's tag, in the user's words (pydantic's tag is the member's type: 'str', 'list[any]').
_SHAPES = (
    ("str", "text"),
    ("bool", "a boolean (true or false)"),
    ("int", "a whole number"),
    ("float", "a number"),
    ("decimal", "a number"),
    ("list", "a list"),
    ("tuple", "a list"),
    ("dict", "a mapping"),
)


# What pydantic names a union's member by: a type ('str', 'list[any]', 'function-after[f(), M]') or a
# model's class name. A word in a location that matches neither, and is not in the data, is a key a
# validator put there (`tools: {x: 5}` is checked as `{x: {function: 5}}`), not a member's tag.
_TAG = re.compile(
    r"^(?:str|int|float|bool|decimal|bytes|none|date|datetime"
    r"|(?:list|dict|tuple|set|frozenset|literal|union|nullable|function-\w+|[\w-]+)\[.*\]|[A-Z]\w*)$"
)


def shape_of(tag: str) -> str:
    """'str' → 'text', 'list[any]' → 'a list', a model's name (or a validator around one) → 'a mapping'."""
    head = tag.split("[", 1)[0]
    if head.startswith("function-"):
        inner = tag.rsplit(",", 1)[-1].strip(" ]")
        return shape_of(inner)
    for name, words in _SHAPES:
        if head == name:
            return words
    return "a mapping"


def _options(err: Mapping[str, Any]) -> list[str]:
    return re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))


def did_you_mean(err: Mapping[str, Any]) -> str:
    """ "; did you mean 'integer'?" for a misspelt choice (a literal), else ''."""
    given = err.get("input")
    if err["type"] != "literal_error" or not isinstance(given, str):
        return ""
    close = difflib.get_close_matches(given, _options(err), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def value_fix(err: Mapping[str, Any]) -> str | None:
    """What to write instead of a value pydantic refused, by the kind of its error; None if unknown."""
    kind = str(err["type"])
    ctx = err.get("ctx") or {}
    field = next((str(p) for p in reversed(tuple(err.get("loc", ()))) if isinstance(p, str)), "")
    if field == "timeout" and kind.startswith(("float", "greater")):
        return "write seconds (e.g. 30), or a duration such as 90s, 5m, 2h or 3d"
    if kind == "literal_error":
        return f"use one of: {', '.join(_options(err))}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        word = {"greater_than": "above", "greater_than_equal": "at least"}.get(kind)
        word = word or {"less_than": "below", "less_than_equal": "at most"}[kind]
        bound = next(iter(ctx.values()), "")
        return f"write a number {word} {bound}"
    if kind.startswith("string"):
        return "write text here (in quotes if it starts with a symbol or looks like a number)"
    if kind.startswith("int"):
        return "write a whole number, e.g. 3"
    if kind.startswith(("float", "decimal")):
        return "write a number, e.g. 0.5"
    if kind.startswith("bool"):
        return "write true or false"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "write a list: [a, b], or one '- item' a line"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "write a mapping: 'key: value' lines indented below it, or {key: value}"
    return None


def _tag_indexes(data: Any, loc: tuple[Any, ...], kind: str) -> list[int]:
    """Where in an error's location pydantic put a union member's tag (no such key is in the data)."""
    tags = []
    here = data
    for i, part in enumerate(loc):
        in_map = isinstance(here, Mapping) and part in here
        if in_map or (isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here)):
            here = here[part]
        elif i == len(loc) - 1 and kind in ("missing", "extra_forbidden"):
            break  # a key that should be there, or one that should not: the user's word, not a tag
        elif isinstance(part, str) and _TAG.match(part):
            tags.append(i)
    return tags


def untangle(errors: list[Any], data: Any) -> list[dict[str, Any]]:
    """pydantic's errors with union tags taken out of their locations: one error per field.

    Where the value had the shape of one member (a mapping for a reply mapping), the errors inside
    that member are the ones that say what is wrong, and stand; where it had no member's shape, the
    members' type errors become one error of type 'union' whose `shapes` say what it may be.
    """
    out: list[dict[str, Any]] = []
    groups: dict[tuple[Any, ...], list[tuple[dict[str, Any], int]]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        tags = _tag_indexes(data, loc, str(err["type"]))
        if not tags:
            out.append(dict(err))
            continue
        first = tags[0]
        groups.setdefault(loc[:first], []).append((dict(err), first))
    for prefix, members in groups.items():
        deep = [(e, i) for e, i in members if len(e["loc"]) > i + 1]
        specific = [e for e, i in members if len(e["loc"]) == i + 1 and e["type"] == "value_error"]
        if deep:
            # the value had a member's shape: what is wrong inside it is what to report
            inner = [{**e, "loc": (*e["loc"][:i], *e["loc"][i + 1 :])} for e, i in deep]
            out.extend(untangle(inner, data))
        elif specific:
            out.append({**specific[0], "loc": prefix})
        else:
            shapes = list(dict.fromkeys(shape_of(str(e["loc"][i])) for e, i in members))
            fixes = list(dict.fromkeys(f for e, _ in members if (f := value_fix(e))))
            out.append(
                {
                    "type": "union",
                    "loc": prefix,
                    "msg": f"must be {' or '.join(shapes)}",
                    "input": members[0][0].get("input"),
                    "fix": "; or ".join(fixes) or None,
                }
            )
    return out
