"""Helpers for the trace tests: workflow files, and a run's spans read back as a tree."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path

from podium.trace.spans import Span


def write_flow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


class Tree:
    """A run's spans, looked up by name and by parent."""

    def __init__(self, spans: Iterable[Span]) -> None:
        self.spans = list(spans)
        self.by_id = {s.span_id: s for s in self.spans}

    def named(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str) -> Span:
        found = self.named(name)
        assert len(found) == 1, (name, [s.name for s in self.spans])
        return found[0]

    def parent(self, span: Span) -> Span:
        assert span.parent_span_id is not None, span.name
        return self.by_id[span.parent_span_id]

    def children(self, span: Span) -> list[Span]:
        return [s for s in self.spans if s.parent_span_id == span.span_id]

    def path(self, span: Span) -> list[str]:
        """The names from the root down to `span`."""
        names = [span.name]
        while span.parent_span_id is not None:
            span = self.by_id[span.parent_span_id]
            names.append(span.name)
        return names[::-1]
