"""What podium prints for people: an agent's text reaches a terminal as text, never as its escapes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.segment import Segment

if TYPE_CHECKING:
    from rich.console import ConsoleOptions, RenderableType

# C0 controls but tab and newline, DEL, and C1 (0x9b is a one-byte CSI): a reply, an error or an
# approval's message that holds them could set the terminal's title, clear or rewrite what is on
# screen, or hide a link (OSC 8) in what podium shows. The data keeps them (`--json`, the store).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with each control character written as its escape (ESC as `\\x1b`), for plain echo."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text) if CONTROL.search(text) else text


class SafeConsole(Console):
    """A rich Console that drops control characters from the text it renders (its own styles,
    cursor moves and links are not text, so they stay). They have no width, so tables keep their
    layout."""

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and CONTROL.search(segment.text):
                yield Segment(CONTROL.sub("", segment.text), segment.style)
            else:
                yield segment


def console(**kwargs: Any) -> Console:
    """A SafeConsole with podium's defaults: what it prints is data, so no highlighting, and no
    markup or emoji codes read from it (a reply holding `[/]` would otherwise be a MarkupError)."""
    for key in ("highlight", "markup", "emoji"):
        kwargs.setdefault(key, False)
    return SafeConsole(**kwargs)
