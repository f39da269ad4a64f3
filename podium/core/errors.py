"""The exception tree: every podium error carries what the user must do about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PodiumError(Exception):
    """Base of every error podium raises on purpose; `fix` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


# --- bad input: the user's files, flags and values (exit code 2, nothing runs) ----------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a workflow file, located as precisely as the parser allows."""

    file: str
    field: str
    message: str
    line: int | None = None
    column: int | None = None
    fix: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class BadInput(PodiumError):
    """The user gave podium something it cannot use; nothing was run."""

    exit_code = 2


class WorkflowError(BadInput):
    """A workflow file is invalid; `problems` lists every problem found, each located."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in {self.problems[0].file}"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class ConfigError(WorkflowError):
    """A ``podium.toml`` is invalid; `problems` lists every problem found, each located as in a workflow."""


class InputError(BadInput):
    """A run's inputs are missing or of the wrong type."""


class UnknownProvider(BadInput):
    """A provider name that no installed plugin registers."""


class RunNotFound(BadInput):
    """No run with that id is in the store."""


class StoreError(PodiumError):
    """The run store cannot be used (corrupt, or written by a newer podium)."""

    exit_code = 2


class DatabaseFault(StoreError):
    """The run database is damaged or the disk under it failed: not the user's input (exit 1)."""

    exit_code = 1


class ExtraMissing(BadInput):
    """A feature needs an optional extra that is not installed; `fix` names the pip command."""


class ExportFailed(PodiumError):
    """A trace could not be delivered where it was sent (a collector that refused it or did not answer)."""


class RunBusy(PodiumError):
    """Another live process drives this run (it holds the run's lease)."""


class PluginError(PodiumError):
    """A plugin failed to load or misbehaved."""


class TemplateError(PodiumError):
    """A template failed to render; the message names the step and the missing name."""


# --- failures of a step, mapped from whatever the provider raised ----------------------------


class StepError(PodiumError):
    """Why one attempt of a step failed; `kind` and `retryable` drive the retry policy."""

    kind = "error"
    retryable = False
    # the user's own frames, when the error is an exception their code raised (a python agent, a tool)
    traceback: str | None = None

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message, fix=fix)
        self.retry_after = retry_after
        self.provider = provider


class ProviderError(StepError):
    """A provider could not complete a call."""

    kind = "provider"


class Throttled(ProviderError):
    """The service asked us to slow down (HTTP 429, ThrottlingException); retried after a wait."""

    kind = "throttled"
    retryable = True


class TransientError(ProviderError):
    """A failure that may pass by itself (5xx, connection reset, model not ready); retried."""

    kind = "transient"
    retryable = True


class CallTimeout(ProviderError):
    """A call did not finish within the step's timeout; retried."""

    kind = "timeout"
    retryable = True


class InvalidRequest(ProviderError):
    """The service rejected the request as malformed or naming something unknown; not retried."""

    kind = "invalid_request"


class AuthError(ProviderError):
    """Credentials are missing, expired or lack permission; not retried."""

    kind = "auth"


class AgentFailed(StepError):
    """The agent itself failed (a local function raised); not retried unless it says so."""

    kind = "agent_error"


class OutputInvalid(StepError):
    """The reply did not match the step's declared output, even after the repair retry."""

    kind = "output_invalid"


class ApprovalRejected(StepError):
    """A person rejected an approval step, and no step of the workflow says what a rejection leads to."""

    kind = "rejected"


class ToolApprovalNeeded(StepError):
    """A tool marked ``approval: true`` was asked for: the step waits for a person's decision.

    Not a failure: the engine records the request (`ApprovalRequested` on the step, naming the tool
    and its arguments) and the run waits; once decided, the step's call is made again, the tool
    calls before this one are replayed from their events, and this one runs (or is refused).
    """

    kind = "waiting"

    def __init__(
        self, message: str, *, request: dict[str, Any], provider: str | None = None, usage: Any = None
    ) -> None:
        super().__init__(
            message, fix="podium approve RUN STEP (or podium reject RUN STEP)", provider=provider
        )
        self.request = request
        self.usage = usage  # what the call used before it stopped to wait (a podium.core.calls.Usage)


class PolicyError(StepError):
    """A plugin's policy refused a call before it was made (a budget, for example)."""

    kind = "policy"


class BudgetExceeded(PolicyError):
    """A call would take spend past a budget; the run stops in a resumable state."""

    kind = "budget"


def validation_problems(exc: Any, *, whole: str = "") -> str:
    """A pydantic ValidationError's problems on one line, `field.path: message; …` (`whole` names
    a problem with the value as a whole, which has no path)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or whole}: {e['msg']}" for e in exc.errors())
