"""Helpers for the profile tests: workflow and podium.toml files written into a test's folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

FLOW = """
name: memo
agents:
  researcher:
    instructions: You are a careful researcher. Answer in three short bullet points.
    model: smart
  writer:
    instructions: You write a clear, plain one-page memo from the research you are given.
steps:
  research: {agent: researcher, prompt: "The science of tides."}
  write: {agent: writer, needs: [research], prompt: "Memo from {{ steps.research.output }}"}
outputs: {memo: "{{ steps.write.output }}"}
mock:
  research: {reply: "- tides are regular", usage: {input_tokens: 52, output_tokens: 38}}
  write: {reply: "Tidal power, briefly.", usage: {input_tokens: 240, output_tokens: 180}}
"""

HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def write(folder: Path, name: str, text: str) -> Path:
    """`text`, dedented, as `folder/name` (folders made as needed)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path
