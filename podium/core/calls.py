"""What crosses the provider boundary (requests, replies, usage, the Provider contract) and what hooks see."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from podium.core.errors import BadInput, InputError, InvalidRequest, validation_problems

if TYPE_CHECKING:
    from podium.core.spec import Workflow


class Usage(BaseModel):
    """Tokens a call consumed, by kind, as the provider reported them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    cache_read_tokens: int = Field(0, ge=0)
    cache_write_tokens: int = Field(0, ge=0)
    requests: int = Field(1, ge=0)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            requests=self.requests + other.requests,
        )


ZERO_USAGE = Usage(requests=0)


class Message(BaseModel):
    """One turn of a conversation sent to an agent."""

    model_config = ConfigDict(frozen=True)

    role: str  # "user" or "assistant"
    content: str


DEFAULT_MAX_TOOL_ROUNDS = 10


@dataclass(frozen=True, slots=True)
class RecordedTool:
    """A tool call that finished earlier in this step: what the agent was sent for it."""

    name: str
    arguments: dict[str, Any]
    result: Any
    text: str
    error: bool = False


@runtime_checkable
class ToolLog(Protocol):
    """Where a provider's tool loop records each tool call it finishes, and finds those it finished
    before (a resumed, retried or re-issued call replays them rather than running a tool twice).

    The engine hands one to each call (`AgentRequest.tool_log`); its methods may be called from a
    provider's worker thread. `index` is a call's position among its request's tool calls.
    """

    def finished(self, index: int, name: str, arguments: Mapping[str, Any]) -> RecordedTool | None:
        """The call at `index`, if one with this name and these arguments finished before."""
        ...

    def record(self, index: int, call: Mapping[str, Any]) -> None:
        """Record a finished call (name, arguments, result, text, error, started_at, duration_ms)."""
        ...

    def decision(self, index: int, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """A person's decision on this call of a tool marked ``approval: true`` (decision, by,
        comment), or None when none was asked for or it is still waiting."""
        ...


class AgentRequest(BaseModel):
    """One call to one agent, as the engine hands it to a provider.

    `binding` is the agent's section for this provider from the workflow file (for example
    ``{agent_id: ..., alias_id: ...}`` under ``bedrock:``); `model` is already resolved through
    the provider's ``models:`` aliases. `messages` is the conversation: the rendered prompt, and
    on a repair retry the rejected reply and the validation error.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    run_id: str
    step: str
    agent: str
    attempt: int
    item: int | None = None
    provider: str
    model: str | None = None
    instructions: str | None = None
    function: str | None = None
    tools: dict[str, str] = Field(default_factory=dict)  # name → module:function the agent may call
    approval_tools: frozenset[str] = frozenset()  # the tools a person approves before each call
    max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS  # times the agent's tool requests are answered
    binding: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    messages: list[Message]
    output_schema: dict[str, Any] | None = None
    idempotency_key: str
    session_id: str
    timeout: float | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    # the W3C trace context of this call's span (podium.core.tracecontext): providers send it as
    # the ``traceparent`` header wherever the cloud accepts one, so its own spans join the run's trace
    traceparent: str | None = None
    # the engine's record of this step's tool calls (None outside a run: tools then simply run)
    tool_log: ToolLog | None = Field(None, exclude=True, repr=False)

    @property
    def prompt(self) -> str:
        """The first user message: the step's rendered prompt."""
        return self.messages[0].content

    def started(self, traceparent: str | None, tool_log: ToolLog | None) -> AgentRequest:
        """This request as made, once its CallStarted event is written: with its span's trace
        context and its tool log. A copy (the request the before-call hooks saw stays as it was),
        made without validating again what was validated when the request was built: a call's
        hot path."""
        copy = object.__new__(AgentRequest)
        fields = dict(self.__dict__)
        fields["traceparent"], fields["tool_log"] = traceparent, tool_log
        object.__setattr__(copy, "__dict__", fields)
        object.__setattr__(copy, "__pydantic_fields_set__", self.__pydantic_fields_set__ | _STARTED)
        object.__setattr__(copy, "__pydantic_extra__", self.__pydantic_extra__)
        object.__setattr__(copy, "__pydantic_private__", self.__pydantic_private__)
        return copy


_STARTED = frozenset({"traceparent", "tool_log"})


class AgentResponse(BaseModel):
    """What an agent answered, with usage and the provider's own identifiers.

    `output` is set when the agent returned a value rather than text (a python function);
    `text` is the reply text otherwise. `native` keeps provider-specific detail (trace events,
    return-control payloads) for the trace exporter without the core knowing its shape.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str | None = None
    output: Any = None
    usage: Usage = Field(default_factory=Usage)
    model: str | None = None
    latency_ms: float | None = None
    response_id: str | None = None
    session_id: str | None = None
    native: dict[str, Any] = Field(default_factory=dict)
    # what the call ran on, for people: {"kind": "agent" | "model" | "function" | "mock" | …,
    # "id": the managed agent's, model's or function's id, "via": where the binding came from}
    bound_to: dict[str, str] | None = None

    @property
    def value(self) -> Any:
        return self.output if self.output is not None else self.text


@dataclass(frozen=True, slots=True)
class ProviderEnv:
    """What a provider learns about the workflow it serves: where it lives, its mock replies, and how
    many agent calls the run has in flight at most (`defaults.concurrency`), to size its threads."""

    workflow: str
    base_dir: Path
    mock: Mapping[str, Any] = field(default_factory=dict)
    concurrency: int = 16


class ProviderConfig(BaseModel):
    """Settings every provider accepts under ``providers.<name>:``; providers extend this model."""

    model_config = ConfigDict(extra="forbid")

    concurrency: int | None = Field(None, ge=1, description="Most calls in flight to this provider.")
    models: dict[str, str] = Field(
        default_factory=dict,
        description="Logical model names (fast, smart) to this provider's ids.",
    )


class Deployment(BaseModel):
    """One agent a `podium deploy` created, updated or found unchanged, with the cloud's ids for it.

    `ids` holds what the cloud knows the agent by and what a user may look up (Bedrock: agent_id,
    alias_id, agent_version, agent_arn, …); `podium deploy --json` prints them beside the agent.
    """

    model_config = ConfigDict(frozen=True)

    agent: str
    action: Literal["created", "updated", "unchanged"]
    ids: dict[str, Any] = Field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The deployment as one flat JSON object, as ``podium deploy --json`` prints it."""
        return {"agent": self.agent, "action": self.action, **self.ids}


class EmulatorOptions(BaseModel):
    """Options of a provider's standalone emulator, beyond the port; each becomes a `podium emulate` flag.

    A provider with an emulator extends this model (Bedrock adds ``region``); a field's default and
    description become the flag's default and help.
    """

    model_config = ConfigDict(extra="forbid")


class FaultInjector(Protocol):
    """Faults queued on an emulator, each taken by the next request it applies to."""

    def throttle(
        self, times: int = 1, *, retry_after: float | None = None, operation: str | None = None
    ) -> None: ...
    def server_error(self, status: int = 500, times: int = 1, *, operation: str | None = None) -> None: ...
    def delay(self, seconds: float, times: int = 1, *, operation: str | None = None) -> None: ...
    def cut(self, times: int = 1, *, operation: str | None = None) -> None: ...
    def malformed(self, times: int = 1, *, operation: str | None = None) -> None: ...
    def clear(self) -> None: ...


class EmulatedRequest(Protocol):
    """One request an emulator served, as its log keeps it (`traceparent`: the header it came with)."""

    @property
    def operation(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def fault(self) -> str | None: ...
    @property
    def traceparent(self) -> str | None: ...


@runtime_checkable
class Emulator(Protocol):
    """A provider's local emulator: a real HTTP server on 127.0.0.1 that the cloud's own SDK talks to.

    `settings()` are the ``providers.<name>`` settings that point podium at it (endpoint, region,
    dummy credentials: `podium run --emulate` lays them over the workflow's own); `environment()`
    the variables that point the cloud's SDK or CLI at it; `faults` queues failures; `requests` is
    the log of what it served. Entering it starts the server, leaving it stops it.
    """

    @property
    def endpoint_url(self) -> str: ...
    @property
    def faults(self) -> FaultInjector: ...
    @property
    def requests(self) -> Sequence[EmulatedRequest]: ...
    def settings(self) -> dict[str, Any]: ...
    def environment(self) -> dict[str, str]: ...
    def start(self) -> Emulator: ...
    def stop(self) -> None: ...
    def __enter__(self) -> Emulator: ...
    def __exit__(self, *exc: object) -> None: ...


class Provider:
    """Base class of a backend. Subclasses set `name`, `Config`, and implement `invoke`.

    A provider converts its SDK's errors into `podium.core.errors` (Throttled, TransientError,
    InvalidRequest, AuthError, CallTimeout) so that retry and fallback stay provider-neutral.
    Optional parts: `Binding` (the model of an agent's ``<name>:`` section), `deploy` with
    ``can_deploy = True`` (managed agents), and `emulator` with `emulator_options` set (a local
    emulator of the service).
    """

    name: ClassVar[str]
    Config: ClassVar[type[ProviderConfig]] = ProviderConfig
    Binding: ClassVar[type[BaseModel] | None] = None
    description: ClassVar[str] = ""
    binding_fix: ClassVar[str | None] = None  # how to write a valid binding, for its error message
    can_deploy: ClassVar[bool] = False
    emulator_options: ClassVar[type[EmulatorOptions] | None] = None  # None: no emulator
    # whether an agent of this provider may ask a person something mid-call (an A2A agent's
    # input-required): its calls then get a `tool_log` even with no tools, to wait and be answered
    asks_people: ClassVar[bool] = False
    # whether it answers whatever model an agent names (a test double: podium.testing's
    # function_provider): a model class then needs no mapping for it, and the class name is sent
    any_model: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig, env: ProviderEnv) -> None:
        self.config = config
        self.env = env
        self._bindings: dict[str, BaseModel] = {}

    def resolve_model(self, model: str | None) -> str | None:
        """Map a logical model name through this provider's ``models:`` table."""
        if model is None:
            return None
        return self.config.models.get(model, model)

    def binding(self, request: AgentRequest) -> BaseModel | None:
        """The agent's section for this provider as a `Binding`, validated once per agent and binding.

        None when the provider declares no `Binding`. An invalid section is an InvalidRequest
        naming the agent, the problems and `binding_fix` (the loader reports the same problems,
        with file and line, before a run starts).
        """
        if self.Binding is None:
            return None
        key = f"{request.agent}\0{json.dumps(request.binding, sort_keys=True, default=str)}"
        cached = self._bindings.get(key)
        if cached is not None:
            return cached
        try:
            binding = self.Binding.model_validate(request.binding or {})
        except ValidationError as exc:
            problems = validation_problems(exc, whole="binding")
            raise InvalidRequest(
                f"agents.{request.agent}.{self.name} is not a valid {self.name.capitalize()} binding"
                f" ({problems})",
                fix=self.binding_fix or f"write it with the fields {', '.join(self.Binding.model_fields)}",
                provider=self.name,
            ) from None
        self._bindings[key] = binding
        return binding

    async def invoke(self, request: AgentRequest) -> AgentResponse:
        raise NotImplementedError

    def sends_traceparent(self, request: AgentRequest) -> bool:
        """Whether this call sends its span's trace context on (`request.traceparent`): the engine
        makes it only then. True unless a provider knows the call goes nowhere it is read."""
        return True

    async def aclose(self) -> None:
        """Release clients and connections; called once when the run ends."""

    def deploy(self, workflow: Workflow, *, echo: Callable[[str], None] | None = None) -> list[Deployment]:
        """Create or update the workflow's managed agents in the cloud; record them for later runs.

        Providers with managed agents set ``can_deploy = True`` and override this; `echo` reports
        progress a line at a time. The base has nothing to deploy.
        """
        raise BadInput(
            f"provider '{self.name}' has no managed agents to deploy",
            fix="deploy to a cloud provider (bedrock, vertex, azure)",
        )

    @classmethod
    def emulator(cls, env: ProviderEnv, *, port: int = 0, options: EmulatorOptions | None = None) -> Emulator:
        """A local emulator of this provider's service (not yet started), its brain `env`'s mock replies.

        Providers with one set `emulator_options` (an `EmulatorOptions` model, possibly with no
        fields) and override this; `podium run --emulate` and `podium emulate NAME` call it.
        """
        raise BadInput(
            f"provider '{cls.name}' has no local emulator",
            fix="emulate a cloud provider (podium emulate --help lists them)",
        )


def _dollars(value: Any) -> Decimal:
    """A positive US dollar amount from a number or text such as "$0.50"."""
    if isinstance(value, bool):
        raise ValueError("not an amount")
    try:
        amount = Decimal(value.strip().lstrip("$") if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError("not an amount") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError("not a positive amount")
    return amount


class RunSettings(BaseModel):
    """A run's settings, parsed once at the edge (CLI flags, library arguments), recorded in its log.

    The known ones are typed; a plugin's own settings ride along as extra keys and are read with
    `get`, as from a dict. A resume lays its new settings over the ones the run started with.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    budget: Decimal | None = Field(None, description="Most this run may spend, in US dollars.")
    prices: tuple[str, ...] = Field((), description="Price files laid over the catalog for this run.")
    emulate: bool = Field(False, description="Each cloud runs on its local emulator.")
    # the profile's name and the podium.toml it came from, never its values (they may hold secrets):
    # a resume reads the file again and applies the same profile
    profile: str | None = Field(None, description="The podium.toml profile the run was configured with.")
    config: str | None = Field(None, description="The podium.toml the profile was read from.")

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> Decimal | None:
        return None if value is None else _dollars(value)

    @classmethod
    def parse(cls, value: RunSettings | Mapping[str, Any] | None, *, where: str = "settings") -> RunSettings:
        """Settings from a mapping (or as they are); a bad value is an InputError naming the fix."""
        if isinstance(value, RunSettings):
            return value
        try:
            return cls.model_validate(dict(value or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"]) or "settings"
            given = dict(value or {}).get(name)
            if name == "budget":
                label = where if where.startswith("--") else f"{where}.budget"
                raise InputError(
                    f"{label} {given!s}: not a budget: it must be a positive amount of US dollars",
                    fix="give a positive amount, e.g. --budget 0.50",
                ) from None
            raise InputError(f"{where}.{name} {given!r}: {first['msg']}") from None

    def get(self, key: str, default: Any = None) -> Any:
        """A setting by name, typed or a plugin's own, as `dict.get` would give it."""
        if key in type(self).model_fields:
            return getattr(self, key)
        return (self.model_extra or {}).get(key, default)

    def merged(self, later: RunSettings) -> RunSettings:
        """These settings with `later`'s explicitly given ones laid over them (a resume's)."""
        given = later.model_dump(exclude_unset=True)
        return RunSettings.model_validate({**self.model_dump(exclude_unset=True), **given})

    def to_json(self) -> dict[str, Any]:
        """What RunStarted records: only what was given, as JSON values (amounts as text)."""
        return self.model_dump(mode="json", exclude_unset=True)


@dataclass
class RunContext:
    """What hooks learn about the run a call belongs to (`podium_before_call(run=...)`)."""

    run_id: str
    workflow: Workflow
    store: Any  # the RunStore the run's events go to
    settings: RunSettings = field(default_factory=RunSettings)
    _warn: Callable[..., None] | None = field(default=None, repr=False)
    # a resumed run's events from before this process took it on, read once (empty for a new run)
    history: Sequence[Any] = field(default=(), repr=False)

    def warn(self, message: str, *, step: str | None = None, **data: Any) -> None:
        """Record a BudgetWarning event in the run's log (shown live, kept for `podium show`).

        Safe to call from inside a hook: the event is written once the current one is dispatched.
        """
        if self._warn is not None:
            self._warn(message, step=step, **data)
