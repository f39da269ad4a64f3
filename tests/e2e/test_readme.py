"""The README's copy-paste commands, run as written: every `podium …` line in the code blocks of its
"Switch clouds", "Run locally against mocks" and "Track spend" sections, in order, from the
repository's root, against a database of the test's own.

A line's comment may say what it ends with, `(exit 1)` for a run that waits for a person or stops;
without one, the command must succeed. A command the README shows that no longer works fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTIONS = ("Switch clouds", "Run locally against mocks", "Track spend", "Write a workflow")
# sections whose commands write files run in a folder of their own, not in the checkout
OWN_FOLDER = ("Write a workflow",)
EXIT = re.compile(r"\(exit (\d)\)")


def section(text: str, title: str) -> str:
    """The text under `## title`, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def commands(body: str) -> list[tuple[list[str], int]]:
    """Each `podium …` line of the section's sh code blocks: its arguments and the exit it expects."""
    found: list[tuple[list[str], int]] = []
    for block in re.findall(r"```sh\n(.*?)```", body, flags=re.DOTALL):
        for line in block.splitlines():
            command, _, comment = line.partition("#")
            if not command.strip().startswith("podium "):
                continue
            expected = EXIT.search(comment)
            found.append((shlex.split(command)[1:], int(expected.group(1)) if expected else 0))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("title", SECTIONS)
def test_the_readmes_commands_work_as_written(title: str, tmp_path: Path) -> None:
    listed = commands(section(README.read_text(encoding="utf-8"), title))
    assert listed, f"'{title}' shows no podium command"
    env = {
        **os.environ,
        "PODIUM_DB": str(tmp_path / "podium.db"),
        "HOME": str(tmp_path),  # no user's ~/.podium/podium.toml
        "NO_COLOR": "1",
        "COLUMNS": "160",
    }
    cwd = tmp_path / "work" if title in OWN_FOLDER else ROOT
    cwd.mkdir(exist_ok=True)
    for args, expected in listed:
        done = subprocess.run(
            [sys.executable, "-m", "podium", *args], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == expected, (
            f"`podium {shlex.join(args)}` exited {done.returncode}, the README says {expected}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
        assert "Traceback" not in done.stderr, done.stderr
