"""Where each key of a TOML file is written: tomllib gives no positions, so a small scan finds them.

The scan knows table headers (``[profiles.aws.agents.writer]``, ``[[…]]``), ``key = value`` lines
with dotted and quoted keys, and the keys of inline tables on one line (``writer = {bedrock =
{model = "x"}}``). It skips comments and multi-line strings. It never decides what the file
means (tomllib does): a key it cannot place is reported at its nearest placed parent.
"""

from __future__ import annotations

import re

KeyPath = tuple[str, ...]
Lines = dict[KeyPath, tuple[int, int]]

_KEY = re.compile(r"\s*(?:\"((?:[^\"\\]|\\.)*)\"|'([^']*)'|([A-Za-z0-9_-]+))\s*")


def _keys(text: str) -> KeyPath | None:
    """A dotted key (`a."b c".d`) as its parts; None when `text` is not a key."""
    parts: list[str] = []
    pos = 0
    while True:
        match = _KEY.match(text, pos)
        if match is None or match.end() == pos:
            return None
        parts.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
        if pos == len(text):
            return tuple(parts)
        if text[pos] != ".":
            return None
        pos += 1


def _split_key(line: str) -> tuple[str, str] | None:
    """`key = rest` split at the first `=` outside quotes."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "=":
            return line[:i], line[i + 1 :]
    return None


def _inline(value: str, base: KeyPath, line: int, column: int, out: Lines) -> None:
    """The keys of inline tables in `value`, nested by braces, all on `line`."""
    stack = [base]
    current = base
    i = 0
    quote = ""
    expect_key = False
    while i < len(value):
        char = value[i]
        if quote:
            if char == "\\" and quote == '"':
                i += 2
                continue
            if char == quote:
                quote = ""
        elif char in "\"'" and not expect_key:
            quote = char
        elif char == "{":
            stack.append(current)
            expect_key = True
        elif char == "}":
            current = stack.pop() if len(stack) > 1 else base
            expect_key = False
        elif char == "," and len(stack) > 1:
            expect_key = True
        elif expect_key and not char.isspace():
            split = _split_key(value[i:])
            keys = _keys(split[0]) if split else None
            if split is None or keys is None:
                expect_key = False
                continue
            parent = stack[-1]
            current = (*parent, *keys)
            out.setdefault(current, (line, column + i))
            i += len(split[0]) + 1
            expect_key = False
            continue
        i += 1


def key_lines(text: str) -> Lines:
    """Every key path of a TOML text mapped to its 1-based (line, column)."""
    out: Lines = {}
    table: KeyPath = ()
    open_string = ""
    for number, raw in enumerate(text.splitlines(), 1):
        if open_string:
            if raw.count(open_string) % 2 == 1:
                open_string = ""
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        column = len(raw) - len(raw.lstrip()) + 1
        if stripped.startswith("["):
            inner = stripped[2 : stripped.find("]]")] if stripped.startswith("[[") else stripped[1:]
            inner = inner.split("]", 1)[0]
            keys = _keys(inner)
            if keys is not None:
                table = keys
                for end in range(1, len(keys) + 1):
                    out.setdefault(keys[:end], (number, column))
            continue
        split = _split_key(stripped)
        keys = _keys(split[0]) if split else None
        if split is None or keys is None:
            continue
        path = (*table, *keys)
        for end in range(1, len(keys) + 1):  # a dotted key writes its parents too
            out.setdefault((*table, *keys[:end]), (number, column))
        value = split[1]
        for delimiter in ('"""', "'''"):
            if value.count(delimiter) % 2 == 1:
                open_string = delimiter
        if "{" in value:
            _inline(value, path, number, column + len(split[0]) + 1, out)
    return out
