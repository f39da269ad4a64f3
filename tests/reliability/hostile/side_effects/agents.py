"""Importing this module leaves a mark: loading or validating the workflow must not import it."""

from pathlib import Path

(Path(__file__).parent / "IMPORTED").write_text("agents.py ran")


def answer(prompt: str) -> str:
    return f"answered {prompt}"
