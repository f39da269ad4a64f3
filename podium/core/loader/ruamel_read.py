"""ruamel's round-trip read of a YAML file, bounded in depth and aliases, keeping every key's line.

Imported only when a file is read this way (libyaml reads a good workflow file; see `fast_yaml`): ruamel
is ~1 MiB of modules a run does not otherwise need.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.scanner import RoundTripScanner

from podium.core.errors import Problem, WorkflowError

# as in `positions` (which imports this module when it reads a file: not the other way round)
Path_ = tuple[str | int, ...]
Positions = dict[Path_, tuple[int, int]]

# How deep a file may nest. A workflow nests a few levels (a step's output schema a few more); each level
# costs several Python frames in the composer, the constructor and the checks, and ~250 exhaust the stack.
MAX_DEPTH = 100
# How many nodes aliases may add, beyond `ALIAS_RATIO` per node the file writes out: what a real file's
# shared blocks come to (a retry policy named on every step), far below what an alias bomb asks for
# (449 bytes of nested aliases expand to millions of nodes). The same idea as Kubernetes' YAML decoder.
ALIAS_NODES = 10_000
ALIAS_RATIO = 10


class ExpansionError(ComposerError):
    """Aliases would expand the file far beyond its written size (an alias bomb), or one aliases itself."""

    fix = "alias less: write the shared part out where it is used"


class TooDeep(ComposerError):
    """The file nests deeper than `MAX_DEPTH`."""


class _BoundedComposer(Composer):  # type: ignore[misc]
    """ruamel's composer that counts what every alias would copy, and refuses an alias bomb early.

    The composer shares an aliased node, but the data built from it (and every check after) copies it
    at each alias, so 9 aliases of 9 aliases of … cost memory exponential in the file's size. Each
    aliased node's expanded size is counted once (memoized), so the count itself is linear.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._sizes: dict[int, int] = {}
        self._written = 0  # nodes the file writes out
        self._copied = 0  # nodes its aliases copy
        self._open: set[str] = set()  # anchors whose node is still being composed
        self._level = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            if event.anchor in self._open:
                inside = ExpansionError(
                    None, None, f"the alias *{event.anchor} is inside its own anchor", event.start_mark
                )
                inside.fix = f"remove *{event.anchor}: an anchor cannot hold an alias of itself"
                raise inside
            node = self.anchors.get(event.anchor)
            if node is not None:
                self._copied += self._size(node)
                if self._copied > ALIAS_NODES + ALIAS_RATIO * self._written:
                    raise ExpansionError(
                        None,
                        None,
                        f"its aliases would copy {self._copied:,} values, from {self._written:,} written"
                        " out so far: refused as an alias bomb",
                        event.start_mark,
                    )
            return super().compose_node(parent, index)
        self._written += 1
        self._level += 1
        if self._level > MAX_DEPTH:
            raise TooDeep(None, None, f"the YAML nests deeper than {MAX_DEPTH} levels", event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open.discard(anchor)
            self._level -= 1

    def _size(self, node: Any) -> int:
        size = self._sizes.get(id(node))
        if size is None:
            value = node.value
            if isinstance(value, list):
                # a mapping's value is its (key, value) pairs; a sequence's, its items
                pairs = (c if isinstance(c, tuple) else (c,) for c in value)
                size = 1 + sum(self._size(part) for pair in pairs for part in pair)
            else:
                size = 1
            self._sizes[id(node)] = size
        return size


class _BoundedScanner(RoundTripScanner):  # type: ignore[misc]
    """ruamel's scanner, refusing flow nesting past `MAX_DEPTH` as it reads it: it looks ahead ~1,000
    characters for a key, at a cost that grows with the nesting, so `[[[[…` must stop here, early."""

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        if len(self.flow_context) >= MAX_DEPTH:
            mark = self.reader.get_mark()
            raise TooDeep(None, None, f"the YAML nests deeper than {MAX_DEPTH} levels", mark)
        super().fetch_flow_collection_start(TokenClass, to_push)


def yaml_reader() -> YAML:
    """ruamel's round-trip reader with a depth limit and an alias budget: what every input file is read by."""
    yaml = YAML(typ="rt", pure=True)
    yaml.Composer = _BoundedComposer
    yaml.Scanner = _BoundedScanner
    return yaml


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
    yaml = yaml_reader()
    try:
        data = yaml.load(text)
    except (ExpansionError, TooDeep) as exc:
        mark = exc.problem_mark
        deep = isinstance(exc, TooDeep)
        raise WorkflowError(
            [
                Problem(
                    file,
                    "",
                    str(exc.problem),
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                    fix="flatten the nesting at that line" if deep else exc.fix,
                )
            ]
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        message, fix = _syntax_fix(exc, str(problem))
        raise WorkflowError(
            [
                Problem(
                    file,
                    "",
                    message,
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                    fix=fix,
                )
            ]
        ) from None
    except YAMLError as exc:
        raise WorkflowError([Problem(file, "", f"malformed YAML: {exc}")]) from None
    positions: Positions = {}
    return _plain(data, (), positions), positions


def _syntax_fix(exc: Exception, problem: str) -> tuple[str, str]:
    """The message and fix for malformed YAML: the common mistakes by name, else the generic advice."""
    duplicate = re.match(r'found duplicate key "(.*?)" with value', problem)
    if duplicate:
        start = getattr(exc, "context_mark", None)
        where = f" that starts at line {start.line + 1}" if start else ""
        return (
            f"duplicate key '{duplicate.group(1)}': written twice in the mapping{where}",
            "keep one: a mapping's keys are unique (rename one, or merge the two)",
        )
    if "another document" in problem:
        return (
            "malformed YAML: a second document (---) in the file",
            "a workflow file is one YAML document: remove the --- line and what follows, or merge the two",
        )
    if "'\\t'" in problem:
        return (
            f"malformed YAML: {problem}",
            "YAML indents with spaces, never tabs: replace the tabs at that line with spaces",
        )
    return (
        f"malformed YAML: {problem}",
        "fix the YAML syntax at that line (indentation, quoting, a missing colon)",
    )
