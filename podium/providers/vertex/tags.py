"""The tags podium puts on its Vertex calls, so logs (and the emulator's brain) know run, step, agent.

Gemini calls carry them as ``labels`` (a real generateContent field, billed and logged by label; keys
and values lower-case letters, digits, ``_`` and ``-``, at most 63 characters). An ADK Agent
Engine session carries them in its ``state`` when podium creates it, and a query agent's call in
``config.metadata`` (a LangChain RunnableConfig field), both exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from podium.core.calls import AgentRequest

RUN, STEP, AGENT = "podium:run", "podium:step", "podium:agent"
LABELS = {RUN: "podium_run", STEP: "podium_step", AGENT: "podium_agent"}
_NOT_LABEL = re.compile(r"[^a-z0-9_-]")


def label_value(text: str) -> str:
    """`text` as a label value: lower case, other characters as ``_``, at most 63 characters."""
    return _NOT_LABEL.sub("_", text.lower())[:63]


def podium_tags(request: AgentRequest) -> dict[str, str]:
    """Run, step and agent, exactly (session state, query metadata)."""
    return {RUN: request.run_id, STEP: request.step, AGENT: request.agent}


def podium_labels(request: AgentRequest) -> dict[str, str]:
    """Run, step and agent as Gemini request labels."""
    return {LABELS[key]: label_value(value) for key, value in podium_tags(request).items()}


def from_labels(labels: Mapping[str, str], known: Iterable[str] = ()) -> dict[str, str]:
    """The tags back from labels; a value is mapped back to the one of `known` (mock keys) it labels."""
    names = {label_value(name): name for name in known}
    return {
        key: names.get(str(labels[label]), str(labels[label]))
        for key, label in LABELS.items()
        if label in labels
    }
