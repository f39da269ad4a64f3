"""Each run step's Foundry conversation, remembered in a small file so that a resumed run continues it.

Azure names a conversation itself (``conv_…``), so podium cannot derive it from the run, as it
does a Bedrock session id. The first call of a step (podium's session id ``<run>-<step>[-<item>]``)
creates one, and its id is written here *before* the agent is asked anything: a process killed
mid-call, resumed later, finds the same conversation and carries on in it. The file holds ids
only (no prompts or replies), keyed by project endpoint and session.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

KEEP = timedelta(days=30)  # a conversation older than this is forgotten on the next write
DEFAULT_FILE = Path(".podium") / "azure-conversations.json"


class Conversations:
    """A durable map from (endpoint, podium session id) to a Foundry conversation id (thread-safe)."""

    def __init__(self, path: Path, endpoint: str | None) -> None:
        self.path = path
        self.endpoint = (endpoint or "").rstrip("/")
        self._lock = threading.Lock()

    def _key(self, session_id: str) -> str:
        return f"{self.endpoint} {session_id}"

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        entries = data.get("conversations") if isinstance(data, dict) else None
        return dict(entries) if isinstance(entries, dict) else {}

    def get(self, session_id: str) -> str | None:
        """The conversation remembered for `session_id`, if any."""
        with self._lock:
            entry = self._read().get(self._key(session_id))
        return str(entry["id"]) if isinstance(entry, dict) and entry.get("id") else None

    def remember(self, session_id: str, conversation_id: str) -> None:
        """Record (atomically, at once) that `session_id` talks in `conversation_id`."""
        self._write(
            session_id, {"id": conversation_id, "at": datetime.now(UTC).isoformat(timespec="seconds")}
        )

    def forget(self, session_id: str) -> None:
        """Drop `session_id`'s conversation (the service no longer has it)."""
        self._write(session_id, None)

    def _write(self, session_id: str, entry: dict[str, Any] | None) -> None:
        with self._lock:
            entries = self._read()  # read again: another run (process) may have written since
            cutoff = datetime.now(UTC) - KEEP
            kept = {k: v for k, v in entries.items() if _recent(v, cutoff)}
            if entry is None:
                kept.pop(self._key(session_id), None)
            else:
                kept[self._key(session_id)] = entry
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".azure-conversations.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump({"version": 1, "conversations": kept}, handle, indent=1)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


def _recent(entry: Any, cutoff: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(entry["at"])) >= cutoff
    except (KeyError, TypeError, ValueError):
        return False
