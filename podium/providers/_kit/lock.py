"""The lock file: which managed agents `podium deploy` made for a workflow, so later runs bind to them.

``podium-lock.json`` sits next to the workflow file (one per directory, keyed by workflow name, so
several workflows can share a folder). Under each workflow, each provider keeps a list of entries,
one per *target*: what identifies where the agents live (a region and endpoint for AWS, a project
and location for Vertex, an endpoint for Azure), so that agents deployed to an emulator are never
used against the cloud, nor one region's against another's. Bedrock's entries look like::

    {"version": 1,
     "workflows": {"research-and-write": {"bedrock": [
        {"region": "us-east-1", "endpoint_url": null, "account_id": "123456789012",
         "deployed_at": "2026-11-26T10:15:00+00:00",
         "agents": {"researcher": {"agent_id": "AB12CD34EF", "alias_id": "GH56IJ78KL", …}}}]}}}

A deploy rewrites only its own provider's entry for its own target. Commit the file with the
workflow if the team shares the deployed agents.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from podium.core.errors import InvalidRequest

log = logging.getLogger("podium")

LOCK_FILE = "podium-lock.json"

Target = Mapping[str, Any]


def lock_path(base_dir: Path) -> Path:
    return Path(base_dir) / LOCK_FILE


def _same(a: Any, b: Any) -> bool:
    # endpoints are compared without a trailing slash, and an absent one equals an empty one
    if (a is None or isinstance(a, str)) and (b is None or isinstance(b, str)):
        return (a or "").rstrip("/") == (b or "").rstrip("/")
    return bool(a == b)


def _matches(entry: Mapping[str, Any], target: Target, about: Target | None = None) -> bool:
    # a fact about the target (Bedrock's account) counts only where both sides know it: an old entry
    # without one, or a run that cannot tell its own, is not a difference
    known = {k: v for k, v in (about or {}).items() if v is not None and entry.get(k) is not None}
    return all(_same(entry.get(key), value) for key, value in {**target, **known}.items())


def entries(base_dir: Path, workflow: str, provider: str) -> list[Mapping[str, Any]]:
    """`provider`'s entries for `workflow` in the lock file, one per target (none without a file)."""
    if not lock_path(base_dir).exists():
        return []
    found = (_read(lock_path(base_dir), provider)["workflows"].get(workflow) or {}).get(provider) or []
    return [entry for entry in found if isinstance(entry, Mapping)]


def _read(path: Path, provider: str) -> dict[str, Any]:
    if not path.exists():
        return {"version": 1, "workflows": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRequest(
            f"{path}: cannot read the lock file ({exc})",
            fix=f"fix or delete {path.name}, then run podium deploy again",
            provider=provider,
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("workflows", {}), dict):
        raise InvalidRequest(
            f"{path}: not a podium lock file",
            fix=f"delete {path.name} and run podium deploy again",
            provider=provider,
        )
    data.setdefault("workflows", {})
    return data


def deployed(
    base_dir: Path, workflow: str, provider: str, target: Target, about: Target | None = None
) -> dict[str, dict[str, Any]]:
    """The agents `provider` deployed for `workflow` to `target`, by agent name (may be empty).

    `about` holds facts the run knows of its target that an entry may record too (Bedrock's
    ``account_id``): an entry recording another value does not serve the run. When the lock file
    has the workflow's agents only for other targets, that is a warning naming the difference
    (`mismatch`), never passed over in silence: the agents then run on their models.
    """
    data = _read(lock_path(base_dir), provider)
    for entry in (data["workflows"].get(workflow) or {}).get(provider) or []:
        if isinstance(entry, Mapping) and _matches(entry, target, about):
            return dict(entry.get("agents") or {})
    if (why := mismatch(base_dir, workflow, provider, target, about)) is not None:
        log.warning("warning: %s", why)
    return {}


def mismatch(
    base_dir: Path, workflow: str, provider: str, target: Target, about: Target | None = None
) -> str | None:
    """Why no deployment in the lock file serves `target`, when there are deployments for `workflow`
    on `provider` but for other targets (another region, endpoint, project or account): a warning
    naming the difference. None when one matches, or when there are none at all."""
    path = lock_path(base_dir)
    found = entries(base_dir, workflow, provider)
    if not found or any(_matches(entry, target, about) for entry in found):
        return None
    facts = {k: v for k, v in (about or {}).items() if v is not None}
    keys = [*target, *(k for k in facts if any(entry.get(k) is not None for entry in found))]
    here = {**target, **facts}

    def shown(values: Mapping[str, Any]) -> str:
        return ", ".join(f"{key} {values.get(key) or '(default)'}" for key in keys)

    elsewhere = "; ".join(shown(entry) for entry in found)
    return (
        f"{path.name} has {provider} agents of '{workflow}' deployed for {elsewhere}, not for"
        f" {shown(here)}: the agents run on their models instead. Deploy for this target"
        f" (podium deploy --provider {provider}), or set the {provider} settings to the deployed one"
    )


def record(
    base_dir: Path,
    workflow: str,
    provider: str,
    target: Target,
    agents: Mapping[str, Mapping[str, Any]],
    **about: Any,
) -> Path:
    """Write (atomically) `provider`'s agents for `workflow` at `target`; returns the lock file's path.

    `about` adds facts about the target to its entry (Bedrock: ``account_id``).
    """
    path = lock_path(base_dir)
    data = _read(path, provider)
    entries = [
        e
        for e in ((data["workflows"].setdefault(workflow, {})).get(provider) or [])
        if not (isinstance(e, Mapping) and _matches(e, target))
    ]
    entries.append(
        {
            **target,
            **about,
            "deployed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "agents": {name: dict(values) for name, values in sorted(agents.items())},
        }
    )
    data["workflows"][workflow][provider] = entries
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
