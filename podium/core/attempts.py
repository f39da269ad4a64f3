"""The call policy of one unit of work: limits, timeouts, retries with backoff, fallback, one repair."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from podium.core import templates
from podium.core.calls import AgentRequest, AgentResponse, Message, Provider, ProviderEnv, Usage
from podium.core.clock import Clock
from podium.core.errors import (
    CallTimeout,
    OutputInvalid,
    PodiumError,
    PolicyError,
    ProviderError,
    StepError,
    TemplateError,
    ToolApprovalNeeded,
)
from podium.core.events import EventType, _jsonable
from podium.core.outputs import UpstreamOutputs, parse_output, repair_message, reply_value
from podium.core.spec import Agent, Retry, Step
from podium.core.state import RunState, StepOutcome
from podium.core.toolcalls import StepTools
from podium.core.tracecontext import call_key, traceparent

log = logging.getLogger("podium")

BeforeCall = Callable[..., None]  # podium_before_call(run=, step=, request=)


@dataclass(frozen=True, slots=True)
class _AgentParts:
    """What every call of one agent shares, read from the workflow once instead of per call."""

    tools: dict[str, str]
    approval_tools: frozenset[str]
    bindings: dict[str, Any]

    @classmethod
    def of(cls, agent: Agent) -> _AgentParts:
        return cls(agent.tool_functions, agent.approval_tools, agent.bindings)


class _StepCall(NamedTuple):
    """What every call of one step shares (its agent, policy, timeout, schema, providers), read from
    the workflow at the step's first call instead of at each: a call's hot path. (A named tuple:
    made once per step of a chain, where a frozen dataclass's ten `object.__setattr__` cost more.)"""

    agent_name: str
    agent: Agent
    parts: _AgentParts
    policy: Retry
    timeout: float | None
    schema: dict[str, Any] | None
    registry: Any  # what the schema's `$ref`s resolve against: only a step with a schema needs it
    where: str
    chain: tuple[str, ...]
    max_tool_rounds: int


class Attempts:
    """Makes a step's (or a foreach item's) calls, under the run's limits, until one is good.

    Each provider a run uses is instantiated once, on first use, and closed when the run ends.
    Concurrency is bounded per provider (`providers.<name>.concurrency`) and for the run as a whole
    (`defaults.concurrency`); a call waits for its provider's slot before it takes a global one.
    """

    def __init__(self, state: RunState, *, before_call: BeforeCall, clock: Clock, rng: random.Random) -> None:
        self.state = state
        self.before_call = before_call
        self.clock = clock
        self.rng = rng
        wf = state.workflow
        self.env = ProviderEnv(
            workflow=wf.name, base_dir=wf.base_dir, mock=wf.mock, concurrency=wf.defaults.concurrency
        )
        self.instances: dict[str, Provider] = {}
        self.agent_parts: dict[str, _AgentParts] = {}  # per agent, worked out at its first call
        self.step_calls: dict[str, _StepCall] = {}  # per step, worked out at its first call
        self._usage: tuple[Usage, dict[str, int]] | None = None  # the last Usage dumped, and its dump
        self.limits: dict[str, asyncio.Semaphore] = {}
        self.global_limit = asyncio.Semaphore(wf.defaults.concurrency)

    def provider(self, name: str) -> Provider:
        """This run's instance of a provider (made on first use, from the plan's resolved settings)."""
        if name not in self.instances:
            resolved = self.state.plan.provider(name)
            if resolved.error is not None:
                raise resolved.error
            assert resolved.cls is not None and resolved.config is not None
            try:
                self.instances[name] = resolved.cls(resolved.config, self.env)
            except PodiumError:
                raise
            except Exception as exc:  # a plugin's bug or a missing SDK piece: the step says which provider
                raise PodiumError(
                    f"provider '{name}' could not be made: {type(exc).__name__}: {exc}",
                    fix=f"check providers.{name} in the workflow and the plugin that registers '{name}'"
                    " (`podium providers` lists them), or give the step a fallback",
                ) from exc
            if resolved.config.concurrency:
                self.limits[name] = asyncio.Semaphore(resolved.config.concurrency)
        return self.instances[name]

    async def aclose(self) -> None:
        for provider in self.instances.values():
            try:
                await provider.aclose()
            except Exception:
                log.warning("closing provider %s failed", provider.name, exc_info=True)

    def function_steps(self, sid: str) -> Mapping[str, Any]:
        """What a python agent's `steps` argument reads: its upstream steps' outputs; for an
        on_failure handler (outside the graph), every step settled so far."""
        state = self.state
        if sid in state.plan.graph.needs:
            return UpstreamOutputs(state.views, state.plan.graph, sid)
        return {k: v["output"] for k, v in state.views.items()}

    def backoff(self, retry_index: int, step: Step, retry_after: float | None) -> float:
        """Seconds before the next attempt: exponential with jitter, never below retry-after."""
        policy = self.state.workflow.defaults.retry.merged(step.retry)
        delay = min(policy.max_backoff, policy.backoff * policy.multiplier**retry_index)
        if policy.jitter:
            delay *= 0.5 + self.rng.random() / 2
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    async def call(
        self, sid: str, step: Step, context: dict[str, Any], index: int | None, item: Any
    ) -> tuple[Any, str, int | None]:
        """One unit of work: its output, the provider that gave it, and the seq of the CallFinished
        whose reply *is* the output (so the step can store a reference instead of a copy)."""
        state = self.state
        fixed = self.step_calls.get(sid)
        if fixed is None or fixed.agent_name != (step.agent or ""):
            fixed = self.step_calls[sid] = self.step_call(sid, step)
        agent, parts, policy, timeout = fixed.agent, fixed.parts, fixed.policy, fixed.timeout
        schema, registry = fixed.schema, fixed.registry
        if index is None:
            local = context
            where = fixed.where
        else:
            local = dict(context)
            local["item"], local["index"] = item, index
            where = f"{fixed.where} (item {index})"
        try:
            # rendering counts against the step's timeout, and the render budget bounds it anyway
            prompt_value = templates.render(step.prompt, local, where=where, timeout=timeout)
            instructions = (
                templates.render(
                    agent.instructions, local, where=f"agents.{step.agent}.instructions", timeout=timeout
                )
                if agent.instructions
                else None
            )
        except TemplateError as exc:
            raise StepOutcome(exc, None) from None
        prompt = prompt_value if isinstance(prompt_value, str) else json.dumps(prompt_value)
        messages = [Message(role="user", content=prompt)]
        call_context = {
            "prompt": prompt_value,
            "inputs": state.inputs,
            "steps": self.function_steps(sid) if agent.function else {},
            "step": sid,
            "run_id": state.run_id,
            "agent": step.agent,
        }
        if index is not None:
            call_context["item"], call_context["index"] = item, index
        key = (sid, index)
        if (stored := state.progress.replies.pop(key, None)) is not None:
            # This call finished before the run stopped, but no step recorded its result: use it.
            response = (
                AgentResponse(text=stored.reply)
                if isinstance(stored.reply, str)
                else AgentResponse(output=stored.reply)
            )
            try:
                value = parse_output(response, schema, registry)
            except OutputInvalid:
                pass  # it was not good enough: call again
            else:
                return value, stored.provider, stored.seq if value == stored.reply else None
        # A call in flight when the run stopped is re-issued under its own attempt number, so the
        # provider sees the same idempotency key; later attempts are numbered after every earlier one.
        attempt = state.progress.attempts.get(key, 0)
        reissue = state.progress.inflight.pop(key, None) is not None
        repaired = False
        last: StepError | None = None
        last_provider: str | None = None
        chain = fixed.chain
        for position, pname in enumerate(chain):
            last_provider = pname
            # what a failure that is not retried leads to, as CallFailed says (the live view shows it)
            after = f"fallback:{chain[position + 1]}" if position + 1 < len(chain) else "fail"
            try:
                provider = self.provider(pname)
            except PodiumError as exc:  # not installed, or its settings are wrong: say so, then fall back
                last = ProviderError(exc.message, fix=exc.fix, provider=pname)
                state.events.emit(
                    EventType.CALL_FAILED, sid, None, provider=pname, item=index, kind=last.kind,
                    message=last.message, fix=last.fix, retryable=False, delay=None, then=after,
                )  # fmt: skip
                continue
            tries = 0
            while tries < policy.attempts:
                tries += 1
                if reissue:
                    reissue = False
                else:
                    attempt += 1
                request = AgentRequest(
                    run_id=state.run_id,
                    step=sid,
                    agent=step.agent or "",
                    attempt=attempt,
                    item=index,
                    provider=pname,
                    model=provider.resolve_model(agent.model),
                    instructions=instructions,
                    function=agent.function,
                    tools=parts.tools,
                    approval_tools=parts.approval_tools,
                    max_tool_rounds=fixed.max_tool_rounds,
                    binding=parts.bindings.get(pname, {}),
                    options=agent.options,
                    messages=messages,
                    output_schema=schema,
                    idempotency_key=f"{state.run_id}:{sid}:{'' if index is None else index}:{attempt}",
                    session_id=f"{state.run_id}-{sid}" + ("" if index is None else f"-{index}"),
                    timeout=timeout,
                    context=call_context,
                )
                try:
                    response, seq = await self.invoke(provider, request, repair=repaired)
                    value = parse_output(response, schema, registry)
                    same = isinstance(value, str) and response.output is None and value == response.text
                    return value, pname, seq if same else None
                except OutputInvalid as exc:
                    state.events.emit(
                        EventType.CALL_FAILED, sid, attempt, provider=pname, item=index,
                        kind=exc.kind, message=exc.message, retryable=not repaired, delay=None,
                        then="fail" if repaired or schema is None else "repair",
                    )  # fmt: skip
                    if repaired or schema is None:
                        raise StepOutcome(exc, pname) from None
                    # the repair retry: feed the validation error back, once, without backoff
                    repaired = True
                    tries -= 1
                    reply = (
                        response.text
                        if response.output is None
                        else json.dumps(response.output, default=_jsonable)
                    )
                    messages = [
                        *messages,
                        Message(role="assistant", content=reply or ""),
                        Message(role="user", content=repair_message(exc, schema)),
                    ]
                except ToolApprovalNeeded:
                    raise  # not a failure: the step waits for a person (Steps.run); `invoke` recorded it
                except PolicyError as exc:
                    raise StepOutcome(exc, pname) from None
                except StepError as exc:
                    last = exc
                    more = exc.retryable and tries < policy.attempts
                    delay = self.backoff(tries - 1, step, exc.retry_after) if more else None
                    state.events.emit(
                        EventType.CALL_FAILED, sid, attempt, provider=pname, item=index,
                        kind=exc.kind, message=exc.message, retryable=exc.retryable,
                        retry_after=exc.retry_after, delay=delay, then="retry" if more else after,
                        **({"traceback": exc.traceback} if exc.traceback else {}),
                    )  # fmt: skip
                    if delay is None:
                        break
                    await self.clock.sleep(delay)
        assert last is not None
        raise StepOutcome(last, last_provider)

    def step_call(self, sid: str, step: Step) -> _StepCall:
        """What every call of step `sid` shares, from the workflow."""
        wf = self.state.workflow
        name = step.agent or ""
        agent = wf.agents[name]
        parts = self.agent_parts.get(name)
        if parts is None:
            parts = self.agent_parts[name] = _AgentParts.of(agent)
        schema = wf.output_schema(step)
        return _StepCall(
            agent_name=name,
            agent=agent,
            parts=parts,
            policy=wf.defaults.retry.merged(step.retry),
            timeout=step.timeout or wf.defaults.timeout,
            schema=schema,
            registry=wf.schema_registry if schema is not None else None,
            where=f"steps.{sid}.prompt",
            chain=tuple(self.state.plan.chain(sid)),
            max_tool_rounds=step.max_tool_rounds or wf.defaults.max_tool_rounds,
        )

    async def invoke(
        self, provider: Provider, request: AgentRequest, *, repair: bool
    ) -> tuple[AgentResponse, int]:
        """One call: the before-call hook, the limits, the timeout, and its events."""
        events = self.state.events
        sid, attempt, pname = request.step, request.attempt, request.provider
        events.deliver_ended_calls()  # a budget checked below reads what the calls before cost
        self.before_call(run=self.state.context, step=sid, request=request)
        limit = self.limits.get(pname)
        # the provider's own limit first: a call queued for a busy provider holds no global slot
        if limit is not None:
            await limit.acquire()
        alone = self.alone(request)
        try:
            await self.global_limit.acquire()  # (not `async with`: a coroutine less per call)
            try:
                opened = events.add(
                    EventType.CALL_STARTED, sid, attempt,
                    {"provider": pname, "model": request.model, "agent": request.agent,
                     "item": request.item, "idempotency_key": request.idempotency_key,
                     "session_id": request.session_id, "repair": repair,
                     "prompt": request.messages[-1].content},
                    now=alone,
                )  # fmt: skip
                # the call is on record (with its step's start) before the agent is called; the
                # other calls that start in this turn of the loop are written with it (a call
                # alone, in a chain, wrote it at once)
                try:
                    if not events.is_durable(opened):  # (a call alone wrote it already)
                        await events.durable(opened)
                except asyncio.CancelledError:
                    self.cancelled(request)
                    raise
                # what the call learns once it has its CallStarted event: its span's trace context,
                # and (for an agent with tools, or one that may ask a person) where its tool calls and
                # questions are recorded and replayed from
                tools = (
                    StepTools(
                        self.state, sid, request.item, attempt=attempt,
                        idempotency_key=request.idempotency_key, loop=asyncio.get_running_loop(),
                    )
                    if request.tools or provider.asks_people
                    else None
                )  # fmt: skip
                # (its span's id is a sha256: made only for a provider that sends it on)
                parent = (
                    traceparent(request.run_id, call_key(opened.seq))
                    if provider.sends_traceparent(request)
                    else None
                )
                if parent is not None or tools is not None:  # (else it is the request as it was)
                    request = request.started(parent, tools)
                started = self.clock.monotonic()
                try:
                    if request.timeout is not None:
                        async with asyncio.timeout(request.timeout):
                            response = await self.dispatch(provider, request)
                    else:
                        response = await self.dispatch(provider, request)
                except TimeoutError as exc:
                    # the step's timeout, or a provider's own (a socket's) that it did not map
                    within = f" within {request.timeout:g}s" if request.timeout is not None else f": {exc}"
                    raise CallTimeout(
                        f"{pname} did not answer{within}",
                        fix="raise the step's timeout:, or check the provider",
                        provider=pname,
                    ) from None
                except ToolApprovalNeeded as waiting:
                    # the call ends here, to wait for a person: what it used is metered like any call's,
                    # and `waiting` says it has no reply (a resume makes it again, once decided)
                    used = waiting.usage if isinstance(waiting.usage, Usage) else Usage(requests=0)
                    events.emit(
                        EventType.CALL_FINISHED, sid, attempt, provider=pname, model=request.model,
                        item=request.item, usage=used.model_dump(),
                        latency_ms=(self.clock.monotonic() - started) * 1000, response_id=None,
                        session_id=request.session_id, reply=None, native=None, waiting=waiting.request,
                    )  # fmt: skip
                    raise
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and not task.cancelling():
                        # the provider's own code raised it (an SDK, a python agent), nobody cancelled
                        # this call: a failure of the call, or the step would end neither way
                        raise ProviderError(
                            f"{pname} raised CancelledError, but the run was not cancelled",
                            fix="check the agent's or the provider's code: it let a cancellation escape",
                            provider=pname,
                        ) from None
                    self.cancelled(request)
                    raise
                except StepError:
                    raise
                except Exception as exc:  # a provider that did not map its own error
                    raise ProviderError(
                        f"{pname} raised {type(exc).__name__}: {exc}", provider=pname
                    ) from exc
                elapsed = (self.clock.monotonic() - started) * 1000
            finally:
                self.global_limit.release()
        finally:
            if limit is not None:
                limit.release()
        data = {
            "provider": pname, "model": response.model or request.model, "item": request.item,
            "usage": self.usage_dump(response.usage), "latency_ms": response.latency_ms or elapsed,
            "response_id": response.response_id,
            "session_id": response.session_id or request.session_id,
            "reply": reply_value(response), "native": response.native or None,
        }  # fmt: skip
        if response.bound_to:
            data["bound_to"] = response.bound_to
        finished = events.add(EventType.CALL_FINISHED, sid, attempt, data, now=self.alone(request))
        # the reply is on record before the step acts on it
        if not events.is_durable(finished):
            await events.durable(finished)
        return response, finished.seq

    def usage_dump(self, usage: Usage) -> dict[str, int]:
        """`usage.model_dump()`, a copy of the last one when it is the same (frozen) Usage: a python
        function's calls all share one."""
        last = self._usage
        if last is None or last[0] is not usage:
            last = self._usage = (usage, usage.model_dump())
        return dict(last[1])

    async def dispatch(self, provider: Provider, request: AgentRequest) -> AgentResponse:
        """The call itself: the provider's `invoke`, here. The seam another engine replaces (the
        Temporal engine runs it as an activity on a worker); the policy around it stays here."""
        return await provider.invoke(request)

    def alone(self, request: AgentRequest) -> bool:
        """True when no other call is likely to start or end in this turn of the loop (a chain):
        its events are then written at once, not held for a turn to be written with others'."""
        return request.item is None and len(self.state.tasks) <= 1

    def cancelled(self, request: AgentRequest) -> None:
        """The run was cancelled while this call was open: say so on its record."""
        self.state.events.emit(
            EventType.CALL_FAILED, request.step, request.attempt, provider=request.provider,
            item=request.item, kind="cancelled", message="the run was cancelled", retryable=True,
            delay=None, then="cancel",
        )  # fmt: skip
