"""Python agents for the triage example: plain functions, run by the local provider."""

from __future__ import annotations

import hashlib


def send(prompt: str) -> dict[str, object]:
    """Queues the signed-off reply for sending (the demo sends nothing: it returns the receipt)."""
    receipt = hashlib.sha256(prompt.encode()).hexdigest()[:12]
    return {"queued": True, "receipt": receipt, "characters": len(prompt)}
