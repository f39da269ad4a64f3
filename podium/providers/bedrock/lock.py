"""The lock file: which Bedrock agents `podium deploy` made for a workflow, so later runs bind to them.

``podium-lock.json`` sits next to the workflow file (one per directory, keyed by workflow name, so
several workflows can share a folder). Under each workflow, ``bedrock`` lists one entry per
*target*: a region, and the endpoint URL when not AWS's own (an emulator), so that agents deployed
to an emulator are never used against AWS, nor one region's against another's::

    {"version": 1,
     "workflows": {"research-and-write": {"bedrock": [
        {"region": "us-east-1", "endpoint_url": null, "account_id": "123456789012",
         "deployed_at": "2026-11-26T10:15:00+00:00",
         "agents": {"researcher": {"agent_id": "AB12CD34EF", "alias_id": "GH56IJ78KL",
                                   "agent_version": "3", "agent_name": "research-and-write-researcher",
                                   "foundation_model": "anthropic.claude-…", "agent_arn": "arn:…",
                                   "alias_arn": "arn:…"}}}]}}}

Other providers may keep their own sections beside ``bedrock``; a deploy rewrites only its own
target's entry. Commit the file with the workflow if the team shares the deployed agents.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from podium.core.errors import InvalidRequest

LOCK_FILE = "podium-lock.json"
SECTION = "bedrock"


def lock_path(base_dir: Path) -> Path:
    return Path(base_dir) / LOCK_FILE


def _same_endpoint(a: str | None, b: str | None) -> bool:
    return (a or "").rstrip("/") == (b or "").rstrip("/")


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"version": 1, "workflows": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRequest(
            f"{path}: cannot read the lock file ({exc})",
            fix=f"fix or delete {path.name}, then run podium deploy again",
            provider=SECTION,
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("workflows", {}), dict):
        raise InvalidRequest(
            f"{path}: not a podium lock file",
            fix=f"delete {path.name} and run podium deploy again",
            provider=SECTION,
        )
    data.setdefault("workflows", {})
    return data


def deployed_agents(
    base_dir: Path, workflow: str, *, region: str | None, endpoint_url: str | None
) -> dict[str, dict[str, Any]]:
    """The agents deployed for `workflow` to this region and endpoint, by agent name (may be empty)."""
    data = _read(lock_path(base_dir))
    entries = (data["workflows"].get(workflow) or {}).get(SECTION) or []
    for entry in entries:
        if entry.get("region") == region and _same_endpoint(entry.get("endpoint_url"), endpoint_url):
            return dict(entry.get("agents") or {})
    return {}


def record_deployment(
    base_dir: Path,
    workflow: str,
    *,
    region: str | None,
    endpoint_url: str | None,
    account_id: str | None,
    agents: Mapping[str, Mapping[str, Any]],
) -> Path:
    """Write (atomically) this target's deployed agents for `workflow`; returns the lock file's path."""
    path = lock_path(base_dir)
    data = _read(path)
    entries = [
        e
        for e in ((data["workflows"].setdefault(workflow, {})).get(SECTION) or [])
        if not (e.get("region") == region and _same_endpoint(e.get("endpoint_url"), endpoint_url))
    ]
    entries.append(
        {
            "region": region,
            "endpoint_url": endpoint_url,
            "account_id": account_id,
            "deployed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "agents": {name: dict(values) for name, values in sorted(agents.items())},
        }
    )
    data["workflows"][workflow][SECTION] = entries
    data["version"] = 1
    fd, tmp = tempfile.mkstemp(prefix=".podium-lock.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
