"""Run and StepResult: a run as its events tell it (folded in `podium.core.replay`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from podium.core.calls import ZERO_USAGE, Usage
from podium.core.events import RunStatus, StepStatus


class Failure(BaseModel):
    """Why a step (or a run) failed, as recorded."""

    step: str | None = None
    kind: str
    message: str
    fix: str | None = None
    provider: str | None = None
    traceback: str | None = Field(None, description="The user's own frames, when their code raised.")


class StepResult(BaseModel):
    """One step of a run: status, output, error, attempts, timings and usage."""

    id: str
    status: StepStatus = StepStatus.PENDING
    agent: str | None = None
    provider: str | None = None
    output: Any = None
    error: Failure | None = None
    reason: str | None = Field(None, description="Why the step was skipped.")
    approval: dict[str, Any] | None = Field(
        None, description="For an approval step: what was asked (message, fields, deadline) and the decision."
    )
    attempts: int = 0
    calls: int = 0
    failed_calls: int = 0
    tool_calls: int = Field(0, description="Tool calls that ran (a replayed one is counted once).")
    items: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    usage: Usage = ZERO_USAGE
    bound_to: dict[str, str] | None = Field(
        None, description="What its last call ran on: kind (agent, model, function, mock), id, via."
    )

    @property
    def duration_ms(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds() * 1000
        return None


class Run(BaseModel):
    """A run as its events tell it. `podium.run()` returns one; `podium show` prints one."""

    run_id: str
    workflow: str
    status: RunStatus = RunStatus.RUNNING
    file: str | None = None
    file_hash: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, StepResult] = Field(default_factory=dict)
    error: Failure | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    usage: Usage = ZERO_USAGE
    last_seq: int = 0

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    def __repr__(self) -> str:
        # short: asyncio.run() reprs its result on the way out, and a 10,000-step repr costs 0.1 s
        return f"Run(run_id={self.run_id!r}, workflow={self.workflow!r}, status={str(self.status)!r})"

    @property
    def duration_ms(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds() * 1000
        return None

    def to_json(self) -> dict[str, Any]:
        """The stable `--json` shape: run_id, workflow, status, started_at, outputs, steps, usage."""
        data = self.model_dump(mode="json", exclude={"last_seq"})
        for sid, step in self.steps.items():
            data["steps"][sid]["duration_ms"] = step.duration_ms
        data["duration_ms"] = self.duration_ms
        return data
