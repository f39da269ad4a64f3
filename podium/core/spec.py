"""Pydantic models of a workflow file: Workflow, Agent, Step, Retry, Output, Input, Defaults."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from podium.core.graph import Graph

INPUT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
BUILTIN_OUTPUT_TYPES = ("string", "integer", "number", "boolean", "object", "array", "json")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Input(_Spec):
    """A declared workflow input: `topic: {type: string, default: ...}` or just `topic: string`."""

    type: Literal["string", "integer", "number", "boolean", "object", "array"] = Field(
        "string", description="The JSON type the value must have."
    )
    default: Any = Field(
        None, description="The value when none is given; without one, the input is required."
    )
    description: str | None = Field(None, description="What the input is, for people and `podium show`.")
    enum: list[Any] | None = Field(None, description="The only values allowed.")

    @property
    def required(self) -> bool:
        return self.default is None and "default" not in self.model_fields_set


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
# The longest wait or age podium takes, 100 years: a longer one would overflow the datetime sums
# (an approval's deadline) and thread waits (threading.TIMEOUT_MAX) that a run makes with it
MAX_SECONDS = 100 * 365 * 86400


def parse_duration(value: Any) -> Any:
    """Seconds from 90, '90s', '30m', '2h', '3d' or '1w'; anything else is left for pydantic to refuse."""
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _UNIT[m.group(2)]
    return value


class Retry(_Spec):
    """Retry policy of a step: exponential backoff with jitter, honouring retry-after."""

    attempts: int = Field(3, ge=1, le=100, description="Tries per provider, the first included.")
    backoff: float = Field(
        1.0, ge=0, le=MAX_SECONDS, description="Seconds (or 2s, 1m) before the first retry."
    )
    multiplier: float = Field(2.0, ge=1, description="Each wait is the one before times this.")
    max_backoff: float = Field(
        30.0, ge=0, le=MAX_SECONDS, description="The longest wait between tries, in seconds (or 30s, 5m)."
    )
    jitter: bool = Field(True, description="Randomise each wait (full jitter) so retries do not bunch up.")

    _duration = field_validator("backoff", "max_backoff", mode="before")(parse_duration)

    def merged(self, override: Retry | None) -> Retry:
        """This policy with the fields `override` set explicitly taken from it."""
        if override is None:
            return self
        return self.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


class Output(_Spec):
    """What a step must return: an inline JSON Schema, or a type name (builtin or from `types:`)."""

    schema_: dict[str, Any] | None = Field(
        None, alias="schema", description="An inline JSON Schema the output must match."
    )
    type: str | None = Field(
        None,
        description="A type name instead: string, integer, number, boolean, object, array, json,"
        " or one of `types:`.",
    )
    description: str | None = Field(None, description="What the output is, for people.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Defaults(_Spec):
    """Workflow-wide defaults; a step or an agent overrides them."""

    provider: str = Field(
        "local", description="Where agents run unless they say: local, bedrock, vertex, azure, …"
    )
    retry: Retry = Field(default_factory=Retry, description="The retry policy of every step.")
    timeout: float | None = Field(
        None, gt=0, le=MAX_SECONDS, description="Seconds (or 30s, 5m) per call attempt."
    )
    concurrency: int = Field(16, ge=1, description="Most agent calls in flight at once.")
    fallback: list[str] = Field(
        default_factory=list, description="Providers tried, in order, when a step's own provider fails."
    )
    max_tool_rounds: int = Field(
        10, ge=1, le=1000, description="Times a call's tool requests are answered before the step fails."
    )

    _as_list = field_validator("fallback", mode="before")(_as_list)
    _duration = field_validator("timeout", mode="before")(parse_duration)


class AgentTool(_Spec):
    """A tool in its long form: ``{function: module:function, approval: true}``.

    The short form ``name: module:function`` is the same tool without approval.
    """

    function: str = Field(min_length=1, description="module:function, run by podium when the agent asks.")
    approval: bool = Field(False, description="A person approves each call before it runs.")


class Agent(BaseModel):
    """A logical agent. Keys named after a provider (`bedrock: {agent_id: …}`) bind it there."""

    model_config = ConfigDict(extra="allow", frozen=True)

    provider: str | None = Field(None, description="Where this agent runs; defaults.provider when omitted.")
    model: str | None = Field(
        None, description="A model id, alias or class (fast, smart, reasoning), mapped per provider."
    )
    instructions: str | None = Field(None, description="The agent's system prompt.")
    function: str | None = Field(None, description="module:function, run by the local provider.")
    tools: dict[str, AgentTool] = Field(
        default_factory=dict,
        description="Tools the agent may call back into: name → module:function (or {function:,"
        " approval: true}), run by podium on every cloud and binding.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Model settings passed through (temperature, max_tokens, …)."
    )
    fallback: list[str] | None = Field(
        None, description="Providers tried, in order, when this agent's provider fails."
    )
    description: str | None = Field(None, description="What the agent does, for people.")

    _as_list = field_validator("fallback", mode="before")(_as_list)

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_shorthand(cls, value: Any) -> Any:
        """``name: module:function`` is ``name: {function: module:function}``."""
        if isinstance(value, dict):
            return {k: v if isinstance(v, dict | AgentTool) else {"function": v} for k, v in value.items()}
        return value

    @property
    def bindings(self) -> dict[str, Any]:
        """The per-provider sections of this agent, by provider name."""
        return dict(self.model_extra or {})

    @property
    def tool_functions(self) -> dict[str, str]:
        """Each tool's ``module:function``, by the name the agent calls it."""
        return {name: t.function for name, t in self.tools.items()}

    @property
    def approval_tools(self) -> frozenset[str]:
        """The tools a person approves before each call (``approval: true``)."""
        return frozenset(name for name, t in self.tools.items() if t.approval)


class ApprovalField(_Spec):
    """A value the person deciding must give (`podium approve … --field reason=…`)."""

    type: Literal["string", "integer", "number", "boolean"] = Field(
        "string", description="The value's type; the CLI and the UI check it."
    )
    required: bool = Field(True, description="A decision without it is refused.")
    description: str | None = Field(None, description="What to fill in, shown to the person deciding.")


class Approval(_Spec):
    """A pause for a person: the run waits, durably, until someone approves or rejects."""

    message: str = Field("Approve this step?", description="What the person is asked (a template).")
    timeout: float | None = Field(None, gt=0, le=MAX_SECONDS, description="Seconds (or 30m, 2h, 3d) to wait.")
    on_timeout: Literal["reject", "approve"] = Field(
        "reject", description="The decision taken when nobody decides in time."
    )
    fields: dict[str, ApprovalField] = Field(
        default_factory=dict, description="Values the person deciding must give, by name."
    )

    _duration = field_validator("timeout", mode="before")(parse_duration)


class Step(_Spec):
    """One node of the workflow graph: which agent (or approval), with what prompt, after which steps."""

    agent: str | None = Field(None, description="The agent this step calls (a key of `agents:`).")
    approval: Approval | None = Field(
        None, description="Instead of an agent, pause for a person: true, a message, or {message:, …}."
    )
    on_failure: str | None = Field(None, description="A step to run when this one fails for good.")
    recover: bool = Field(False, description="As an on_failure step: its output replaces the failed one's.")
    prompt: str = Field(
        "", description="The message sent to the agent: a template over inputs, steps and item."
    )
    needs: list[str] = Field(
        default_factory=list, description="Steps that must finish first; their outputs are in `steps`."
    )
    when: str | bool | None = Field(
        None, description="Run only when this expression is true; otherwise the step is skipped."
    )
    foreach: str | list[Any] | None = Field(
        None, description="A list (or an expression giving one): the step runs once per item, as `item`."
    )
    output: Output | None = Field(None, description="What the step must return: a type name or {schema: …}.")
    retry: Retry | None = Field(None, description="Overrides defaults.retry, field by field.")
    timeout: float | None = Field(
        None, gt=0, le=MAX_SECONDS, description="Seconds (or 30s, 5m) per call attempt."
    )
    fallback: list[str] | None = Field(
        None, description="Providers tried, in order, when this step's provider fails."
    )
    max_tool_rounds: int | None = Field(
        None, ge=1, le=1000, description="Overrides defaults.max_tool_rounds."
    )
    description: str | None = Field(None, description="What the step does, for people.")

    _as_list = field_validator("needs", "fallback", mode="before")(_as_list)

    @field_validator("output", mode="before")
    @classmethod
    def _output_shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @field_validator("approval", mode="before")
    @classmethod
    def _approval_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"message": value}
        return {} if value is True else value

    _duration = field_validator("timeout", mode="before")(parse_duration)


class MockTool(_Spec):
    """A scripted request for a tool call: `{name: get_weather, input: {city: Paris}}`."""

    name: str = Field(min_length=1, description="The tool (action group function) to call.")
    input: dict[str, Any] = Field(default_factory=dict, description="Its arguments, by name.")
    action_group: str | None = Field(None, description="The action group named (Bedrock; else 'tools').")


class MockReply(_Spec):
    """One scripted reply: text (or a JSON value), optional prompt regex, usage, latency or error.

    With `tool:` the reply asks the caller to run a tool instead (a Bedrock agent returning
    control); the reply after it in the sequence answers once the tool's result comes back.
    """

    reply: str | dict[str, Any] | list[Any] | int | float | bool | None = Field(
        None, description="The agent's answer: text, or a JSON value."
    )
    match: str | None = Field(None, description="Regex searched in the prompt; rules are reusable.")
    usage: dict[str, int] | None = Field(
        None, description="Tokens billed, by kind: {input_tokens: 120, output_tokens: 40}."
    )
    latency: float = Field(0.0, ge=0, le=MAX_SECONDS, description="Seconds to wait before answering.")
    error: Literal["throttled", "transient", "invalid_request", "auth"] | None = Field(
        None, description="Fail the call with this kind of error instead of answering."
    )
    retry_after: float | None = Field(
        None, ge=0, le=MAX_SECONDS, description="With error: throttled, the seconds to wait."
    )
    tool: MockTool | None = Field(None, description="Ask for this tool call instead of replying.")

    @model_validator(mode="after")
    def _tool_alone(self) -> MockReply:
        if self.tool is not None and (self.reply is not None or self.error is not None):
            raise ValueError(
                "a reply with tool: asks for a tool call; give its text or error in the next reply"
            )
        return self

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value


Scalar = str | int | float | bool
MockEntry = Scalar | MockReply | list[Scalar | MockReply]


class Budget(_Spec):
    """Spending limits in US dollars: per run, and per workflow per day and per month (UTC)."""

    run: Decimal | None = Field(None, gt=0, description="US dollars one run may spend.")
    daily: Decimal | None = Field(None, gt=0, description="US dollars this workflow may spend per UTC day.")
    monthly: Decimal | None = Field(
        None, gt=0, description="US dollars this workflow may spend per UTC month."
    )
    warn_at: Decimal = Field(Decimal("0.8"), gt=0, le=1, description="Warn at this share of a limit.")


class Workflow(_Spec):
    """A whole workflow file, validated. Build one with `podium.load(path)`."""

    name: str = Field(
        min_length=1, description="The workflow's name: runs, costs and budgets are kept by it."
    )
    description: str | None = Field(None, description="What the workflow does, for people.")
    inputs: dict[str, Input] = Field(
        default_factory=dict,
        description="Values given at run time (-i key=value), by name: a type or {type:, …}.",
    )
    agents: dict[str, Agent] = Field(default_factory=dict, description="The logical agents, by name.")
    providers: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Settings of each provider (region, endpoint, …), by provider name."
    )
    defaults: Defaults = Field(
        default_factory=Defaults, description="Settings every step and agent inherits."
    )
    types: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Named JSON Schemas that steps' outputs can name."
    )
    steps: dict[str, Step] = Field(description="The graph: each step, by id, with what it needs.")
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="The run's result: names mapped to templates over `steps`."
    )
    mock: dict[str, MockEntry] = Field(
        default_factory=dict,
        description="Scripted replies per agent, used by the local provider and the emulators.",
    )
    budget: Budget | None = Field(None, description="Spending limits in US dollars.")
    on_failure: str | None = Field(None, description="A step to run when any step fails for good.")

    _path: Path | None = PrivateAttr(None)
    _file_hash: str | None = PrivateAttr(None)
    # the schema files that output schemas' $refs name, read when the file was loaded
    _schemas: Any = PrivateAttr(None)
    # (steps, on_failure, Graph): the graph of the steps it was made from, reused while they are
    # the same objects (a copy with other steps or another on_failure makes its own)
    _graph: Any = PrivateAttr(None)
    # (steps, agents, defaults, {override: each step's provider chain}), kept alike
    _chains: Any = PrivateAttr(None)

    @field_validator("inputs", mode="before")
    @classmethod
    def _input_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"type": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("providers", mode="before")
    @classmethod
    def _empty_provider_settings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {} if v is None else v for k, v in value.items()}
        return value

    @property
    def path(self) -> Path | None:
        """The file this workflow was loaded from, if any."""
        return self._path

    @property
    def base_dir(self) -> Path:
        return self._path.parent if self._path else Path.cwd()

    @property
    def file_hash(self) -> str | None:
        """SHA-256 of the file's bytes when loaded; resume compares it."""
        return self._file_hash

    @property
    def schema_registry(self) -> Any:
        """What output schemas' `$ref`s resolve against (a `referencing.Registry`): the local files
        read at load time; nothing is fetched, and a workflow made in code resolves only `#/…`."""
        from podium.core.schemas import refusing_registry

        return self._schemas.registry() if self._schemas is not None else refusing_registry()

    def output_schema(self, step: Step) -> dict[str, Any] | None:
        """The JSON Schema a step's output must match, with named types resolved."""
        if step.output is None:
            return None
        if step.output.schema_ is not None:
            schema = dict(step.output.schema_)
        elif step.output.type in self.types:
            schema = dict(self.types[step.output.type])
        elif step.output.type == "json" or step.output.type is None:
            schema = {}
        else:
            schema = {"type": step.output.type}
        if self.types and "$defs" not in schema:
            schema["$defs"] = self.types
        return schema

    @property
    def handlers(self) -> frozenset[str]:
        """Steps that run only as some step's (or the workflow's) `on_failure`."""
        named = {s.on_failure for s in self.steps.values() if s.on_failure}
        if self.on_failure:
            named.add(self.on_failure)
        return frozenset(n for n in named if n in self.steps)

    @property
    def graph_steps(self) -> dict[str, Step]:
        """The steps the scheduler runs: all but the on_failure handlers."""
        handlers = self.handlers
        return {sid: s for sid, s in self.steps.items() if sid not in handlers}

    @property
    def graph(self) -> Graph:
        """The scheduler's graph (of `graph_steps`), made once per workflow: every run and resume of
        a loaded workflow plans from it (10,000 steps: ~10 ms to make, with its dependants)."""
        cached = self._graph
        if cached is not None and cached[0] is self.steps and cached[1] == self.on_failure:
            return cached[2]  # type: ignore[no-any-return]
        graph = Graph.of(self.graph_steps)
        self._graph = (self.steps, self.on_failure, graph)
        return graph

    def chains(self, override: str | None = None) -> dict[str, list[str]]:
        """Each step's provider chain (`chain`), made once per workflow and override. Steps that
        share an agent and a fallback (most of a long workflow) share one list: do not change it."""
        cached = self._chains
        if cached is None or not (
            cached[0] is self.steps and cached[1] is self.agents and cached[2] is self.defaults
        ):
            cached = self._chains = (self.steps, self.agents, self.defaults, {})
        made: dict[str | None, tuple[dict[str, list[str]], list[str]]] = cached[3]
        if override not in made:
            shared: dict[tuple[str | None, tuple[str, ...] | None], list[str]] = {}
            chains: dict[str, list[str]] = {}
            for sid, step in self.steps.items():
                key = (step.agent, tuple(step.fallback) if step.fallback is not None else None)
                chain = shared.get(key)
                if chain is None:
                    chain = shared[key] = self.chain(step, override)
                chains[sid] = chain
            used = dict.fromkeys(name for chain in shared.values() for name in chain)  # (first-use order)
            made[override] = (chains, list(used))
        return made[override][0]

    def chain_providers(self, override: str | None = None) -> list[str]:
        """Every provider in some step's chain (`chains`), in first-use order."""
        self.chains(override)
        return list(self._chains[3][override][1])

    def chain(self, step: Step, override: str | None = None) -> list[str]:
        """The providers a step tries, in order: its agent's (or `override`), then fallbacks.

        A python-function agent always runs on `local`. Fallbacks come from the step, else the
        agent, else `defaults.fallback`.
        """
        if step.agent is None:
            return []  # an approval calls no provider
        agent = self.agents[step.agent]
        if agent.function is not None:
            primary = "local"
        else:
            primary = override or agent.provider or self.defaults.provider
        if step.fallback is not None:
            fallback = step.fallback
        elif agent.fallback is not None:
            fallback = agent.fallback
        else:
            fallback = self.defaults.fallback
        return list(dict.fromkeys([primary, *fallback]))

    def providers_used(self, override: str | None = None) -> list[str]:
        """Every provider some step may call, primary or fallback, in first-use order."""
        names: dict[str, None] = {}
        for step in self.steps.values():
            names.update(dict.fromkeys(self.chain(step, override)))
        return list(names)
