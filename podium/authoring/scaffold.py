"""`podium init`: a starter project that runs at once with no credentials.

A starter is a workflow with mock replies, a python function agent next to it, a README snippet, and
the workflow JSON Schema that the workflow's first line points editors at. Files are never
overwritten: `init` into a folder that holds anything is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from podium.core.errors import BadInput

STARTERS = ("minimal", "research", "triage")
SCHEMA_FILE = "workflow.schema.json"


@dataclass(frozen=True, slots=True)
class Starter:
    """A starter's files, by name, and the workflow file among them."""

    name: str
    files: dict[str, str]
    workflow: str


def starter(name: str) -> Starter:
    """The starter called `name`; an unknown one is refused with the list of those that exist."""
    if name not in STARTERS:
        raise BadInput(
            f"unknown template '{name}'",
            fix=f"choose one of: {', '.join(STARTERS)} (podium init DIR --template {STARTERS[0]})",
        )
    folder = resources.files("podium.authoring") / "starters" / name
    files = {
        f.name: f.read_text(encoding="utf-8") for f in folder.iterdir() if f.name.endswith((".yaml", ".py"))
    }
    workflow = next(n for n in files if n.endswith(".yaml"))
    files["README.md"] = _readme(name, workflow)
    return Starter(name, files, workflow)


def create(target: Path, name: str, schema: dict[str, Any]) -> list[Path]:
    """Write starter `name` into `target` (created if missing, refused if it holds anything)."""
    chosen = starter(name)
    if target.exists() and not target.is_dir():
        raise BadInput(f"{target} is a file", fix="give a folder to create the workflow in")
    if target.is_dir() and any(target.iterdir()):
        names = sorted(p.name for p in target.iterdir())
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        raise BadInput(
            f"{target} is not empty ({shown})",
            fix="podium init never overwrites files: give a new or empty folder, e.g. podium init my-flow",
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        files = {**chosen.files, SCHEMA_FILE: json.dumps(schema, indent=2) + "\n"}
        written = []
        for fname, text in files.items():
            path = target / fname
            with path.open("x", encoding="utf-8") as out:  # "x": never overwrite, even in a race
                out.write(text)
            written.append(path)
    except OSError as exc:
        raise BadInput(
            f"cannot create {target}: {exc.strerror or exc}", fix="check the path and its permissions"
        ) from None
    return written


def _readme(name: str, workflow: str) -> str:
    steps = {
        "minimal": f"podium run {workflow} -i question='What is an agent?'",
        "research": f"podium run {workflow} -i topic='solar panels'",
        "triage": f"podium run {workflow} -i ticket='The app crashes when I log in.'",
    }[name]
    return f"""# {name}

A podium workflow made by `podium init --template {name}`. It runs with no credentials: its agents
answer from the `mock:` section of `{workflow}`, and `agents.py` holds a python function agent.

```
podium validate {workflow}
{steps}
podium graph {workflow}               # the steps, as text (or --format mermaid | dot)
podium cost                           # what the runs cost, by workflow
```

Run it on a cloud by binding its agents there: `podium run {workflow} --provider bedrock --emulate`
runs it against podium's local Bedrock emulator; drop `--emulate` to use your AWS account.
The first line of `{workflow}` points editors (VS Code's YAML extension and others) at
`{SCHEMA_FILE}`, so they complete and check the file; `podium schema -o {SCHEMA_FILE}` refreshes it.
"""
