"""The async engine: ready steps under limits, with retries, timeouts, fallback and validation."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pluggy

from podium.core import templates
from podium.core.calls import (
    AgentRequest,
    AgentResponse,
    Message,
    Provider,
    ProviderEnv,
)
from podium.core.errors import (
    CallTimeout,
    OutputInvalid,
    PodiumError,
    PolicyError,
    ProviderError,
    RunBusy,
    StepError,
    TemplateError,
)
from podium.core.events import Event, EventType, RunStatus, StepStatus, _jsonable
from podium.core.graph import Graph
from podium.core.lease import HEARTBEAT_SECONDS, LEASE_SECONDS, owner_id
from podium.core.progress import Progress, rebuild
from podium.core.run import Run, fold
from podium.core.spec import Step, Workflow
from podium.core.store import RunStore

log = logging.getLogger("podium")


class Clock(Protocol):
    """The engine's sense of time; tests pass a fake one so backoff needs no real waiting."""

    def monotonic(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class RunContext:
    """What hooks learn about the run a call belongs to (`podium_before_call(run=...)`)."""

    run_id: str
    workflow: Workflow
    store: RunStore
    settings: dict[str, Any] = field(default_factory=dict)
    _warn: Callable[..., None] | None = field(default=None, repr=False)

    def warn(self, message: str, *, step: str | None = None, **data: Any) -> None:
        """Record a BudgetWarning event in the run's log (shown live, kept for `podium show`).

        Safe to call from inside a hook: the event is written once the current one is dispatched.
        """
        if self._warn is not None:
            self._warn(message, step=step, **data)


def new_run_id() -> str:
    """Sortable and readable: 20261126-101500-3fa2c1."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(?P<body>.*?)\n?```\s*$", re.DOTALL)


def _as_json_value(value: Any) -> Any:
    """What the store will hold for `value`, so a later step sees the same thing after a resume."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.loads(json.dumps(value, default=_jsonable))


def _schema_accepts_text(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


def parse_output(response: AgentResponse, schema: Mapping[str, Any] | None) -> Any:
    """The step's output from a reply: the text, or (with a schema) the validated JSON value."""
    if schema is None:
        return _as_json_value(response.value)
    if response.output is not None:
        value = _as_json_value(response.output)
    else:
        text = response.text or ""
        if (fenced := _FENCE.match(text)) is not None:
            text = fenced.group("body")
        try:
            value = json.loads(text)
        except ValueError:
            if not _schema_accepts_text(schema):
                shown = (response.text or "")[:80]
                raise OutputInvalid(
                    f"the reply is not JSON: {shown!r}",
                    fix="reply with JSON only, matching the step's output schema",
                ) from None
            value = response.text
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for

    validator = validator_for(schema)(schema)
    try:
        validator.validate(value)
    except ValidationError as exc:
        at = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise OutputInvalid(
            f"the reply does not match the output schema at {at}: {exc.message}",
            fix="reply with JSON matching the schema",
        ) from None
    return value


def _repair_message(error: OutputInvalid, schema: Mapping[str, Any]) -> str:
    return (
        f"Your previous reply was rejected: {error.message}.\n"
        "Reply again with only a JSON value that matches this JSON Schema, and nothing else:\n"
        f"{json.dumps(schema, ensure_ascii=False)}"
    )


class UpstreamOutputs(Mapping[str, Any]):
    """The outputs of the steps upstream of one step, by id: what a python agent's `steps` reads.

    Lazy, because finding everything upstream is linear in the graph and most functions never
    ask; doing it for every call would make a long chain quadratic.
    """

    def __init__(self, views: Mapping[str, Mapping[str, Any]], graph: Graph, step: str) -> None:
        self._views = views
        self._graph = graph
        self._step = step
        self._ids: frozenset[str] | None = None

    def _upstream(self) -> frozenset[str]:
        if self._ids is None:
            self._ids = self._graph.upstream(self._step)
        return self._ids

    def __getitem__(self, key: str) -> Any:
        if key not in self._upstream():
            raise KeyError(key)
        return self._views[key]["output"]

    def __iter__(self) -> Iterator[str]:
        return (sid for sid in self._graph.needs if sid in self._upstream())

    def __len__(self) -> int:
        return len(self._upstream())

    def __repr__(self) -> str:
        return f"UpstreamOutputs({dict(self)!r})"


class _StepOutcome(Exception):
    """Carries a step's definitive failure out of its task."""

    def __init__(self, error: PodiumError, provider: str | None) -> None:
        self.error = error
        self.provider = provider


class Engine:
    """Runs and resumes workflows. One engine can drive many runs, one after another or at once.

    The seams are explicit: the store (where events go), the plugin manager (providers and
    hooks), and the clock (so tests control time). `heartbeat` is how often a driving process
    renews its lease on a run and reads the run's inbox (approvals, cancel requests).
    """

    def __init__(
        self,
        *,
        plugins: pluggy.PluginManager,
        store: RunStore,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
        lease_ttl: float = LEASE_SECONDS,
    ) -> None:
        from podium.plugins.manager import ProviderRegistry

        self.plugins = plugins
        self.store = store
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.registry = ProviderRegistry(plugins)
        self.heartbeat = heartbeat
        self.lease_ttl = lease_ttl

    async def run(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        provider: str | None = None,
        run_id: str | None = None,
        settings: Mapping[str, Any] | None = None,
        observers: Iterable[object] = (),
        wait: bool = False,
    ) -> Run:
        """Run `workflow` and return the Run: succeeded, failed, stopped, or waiting for approval.

        Inputs must already be resolved (`loader.resolve_inputs`). `provider` rebinds every agent
        that is not a python function. `observers` see only this run's events. With `wait`, an
        approval step keeps this process waiting for the decision instead of returning `waiting`.
        Cancelling the awaiting task records the run as cancelled.
        """
        driver = _RunDriver(
            self, workflow, dict(inputs or {}), provider, run_id or new_run_id(), settings, None, wait
        )
        driver.observers = [o.podium_event for o in observers if hasattr(o, "podium_event")]
        return await driver.drive()

    async def resume(
        self,
        run_id: str,
        workflow: Workflow,
        *,
        settings: Mapping[str, Any] | None = None,
        observers: Iterable[object] = (),
        wait: bool = False,
        changed: bool = False,
    ) -> Run:
        """Continue a run from its events: only steps with no finished event run again.

        Finished steps keep their outputs and usage and are neither re-called nor re-billed; a
        call that was in flight when the run stopped is re-issued under the same idempotency key;
        a call that finished but was never recorded as a step's output is used, not repeated.
        Callers check the workflow file (`changed` says it differs from the one the run began
        with); the lease check happens here: a run driven by a live process is refused.
        """
        owner = owner_id()
        lease = self.store.acquire_lease(run_id, owner, self.lease_ttl)
        if lease.owner != owner:
            raise RunBusy(
                f"run {run_id} is being driven by process {lease.owner}",
                fix="wait for it to finish, or stop it with `podium cancel`",
            )
        try:
            prior = self.store.events(run_id)
            progress = rebuild(prior)
            started = progress.started
            merged = {**started.get("settings", {}), **dict(settings or {})}
            driver = _RunDriver(
                self,
                workflow,
                dict(started.get("inputs", {})),
                started.get("provider_override"),
                run_id,
                merged,
                progress,
                wait,
            )
            driver.owner = owner
            driver.prior = prior
            driver.observers = [o.podium_event for o in observers if hasattr(o, "podium_event")]
            return await driver.drive(changed=changed)
        finally:
            self.store.release_lease(run_id, owner)


class _LeaseLost(Exception):
    pass


class _RunDriver:
    """The state of one run while a process drives it."""

    def __init__(
        self,
        engine: Engine,
        wf: Workflow,
        inputs: dict[str, Any],
        provider_override: str | None,
        run_id: str,
        settings: Mapping[str, Any] | None,
        progress: Progress | None,
        wait: bool,
    ) -> None:
        self.engine = engine
        self.wf = wf
        self.inputs = inputs
        self.override = provider_override
        self.run_id = run_id
        self.settings = dict(settings or {})
        self.ctx = RunContext(run_id, wf, engine.store, self.settings, self.warn)
        self.dispatching = False
        self.deferred: list[tuple[EventType, str | None, dict[str, Any]]] = []
        self.graph = Graph.of(wf.graph_steps)
        self.full_graph = Graph.of(wf.steps)
        self.progress = progress or Progress()
        self.resumed = progress is not None
        self.wait = wait
        self.seq = self.progress.seq
        # step id -> {"output", "status"[, "rejected"]}: what templates read as steps.<id>
        self.views: dict[str, dict[str, Any]] = {
            sid: view for sid, view in self.progress.views.items() if sid in wf.steps
        }
        self.decided: dict[str, dict[str, Any]] = dict(self.progress.decided)
        self.requested: dict[str, dict[str, Any]] = dict(self.progress.requested)
        self.awaiting: set[str] = set()
        self.failures: dict[str, tuple[str, _StepOutcome]] = {}  # handler -> (failed step, cause)
        self.providers: dict[str, Provider] = {}
        self.limits: dict[str, asyncio.Semaphore] = {}
        self.global_limit = asyncio.Semaphore(wf.defaults.concurrency)
        self.env = ProviderEnv(workflow=wf.name, base_dir=wf.base_dir, mock=wf.mock)
        self.hook_event = engine.plugins.hook.podium_event
        self.observers: list[Any] = []  # this run's own podium_event callables
        self.hook_before = engine.plugins.hook.podium_before_call
        self.owner = owner_id()
        self.lost = False
        self.cancel_requested: str | None = None
        self.wake = asyncio.Event()
        self.tasks: dict[asyncio.Task[StepStatus], str] = {}
        self.prior: list[Event] = []  # a resumed run's events before this process took it on

    # --- events -----------------------------------------------------------------------------

    def emit(
        self, type_: EventType, step: str | None = None, attempt: int | None = None, **data: Any
    ) -> Event:
        if self.lost:
            raise _LeaseLost
        self.seq += 1
        event = Event(self.run_id, self.seq, type_, step, attempt, data)
        self.engine.store.append(event)  # durable before anything acts on it
        outer = not self.dispatching
        self.dispatching = True
        try:
            try:
                self.hook_event(event=event)
            except Exception:  # an observer's bug must not break the run, nor pass unseen
                log.warning("a podium_event observer failed on %s", type_, exc_info=True)
            for observe in self.observers:
                try:
                    observe(event=event)
                except Exception:
                    log.warning("a run observer failed on %s", type_, exc_info=True)
        finally:
            if outer:
                self.dispatching = False
        while outer and self.deferred:  # events a hook asked for while this one was dispatched
            type_, step, data = self.deferred.pop(0)
            self.emit(type_, step, **data)
        return event

    def warn(self, message: str, *, step: str | None = None, **data: Any) -> None:
        if self.lost:
            return
        item = (EventType.BUDGET_WARNING, step, {"message": message, **data})
        if self.dispatching:
            self.deferred.append(item)
        else:
            self.emit(item[0], item[1], **item[2])

    # --- bindings ---------------------------------------------------------------------------

    def chain(self, step: Step) -> list[str]:
        return self.wf.chain(step, self.override)

    def provider(self, name: str) -> Provider:
        if name not in self.providers:
            cls = self.engine.registry.get(name)
            config = cls.Config.model_validate(self.wf.providers.get(name, {}))
            instance = cls(config, self.env)
            self.providers[name] = instance
            if config.concurrency:
                self.limits[name] = asyncio.Semaphore(config.concurrency)
        return self.providers[name]

    def bindings(self) -> dict[str, Any]:
        out = {}
        for aname, agent in self.wf.agents.items():
            step = next((s for s in self.wf.steps.values() if s.agent == aname), None)
            chain = self.chain(step) if step is not None else []
            out[aname] = {"providers": chain, "model": agent.model, "function": agent.function}
        return out

    # --- the run ----------------------------------------------------------------------------

    async def drive(self, *, changed: bool = False) -> Run:
        wf = self.wf
        store = self.engine.store
        settings = json.loads(json.dumps(self.settings, default=str))
        if self.resumed:
            self.emit(
                EventType.RUN_RESUMED, owner=self.owner, file_hash=wf.file_hash, changed=changed,
                settings=settings, settled=sorted(self.views),
            )  # fmt: skip
        else:
            self.emit(
                EventType.RUN_STARTED,
                workflow=wf.name,
                file=str(wf.path) if wf.path else None,
                file_hash=wf.file_hash,
                inputs=self.inputs,
                steps=list(wf.steps),
                bindings=self.bindings(),
                provider_override=self.override,
                settings=settings,
            )
            lease = store.acquire_lease(self.run_id, self.owner, self.engine.lease_ttl)
            if lease.owner != self.owner:  # only if someone guessed a fresh run id
                raise RunBusy(f"run {self.run_id} is driven by {lease.owner}")
        heartbeat = asyncio.create_task(self.beat(), name=f"podium-heartbeat-{self.run_id}")
        try:
            self.read_inbox()
            return await self.schedule()
        except _LeaseLost:
            log.warning("run %s: another process took the lease; this one stops", self.run_id)
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            return self.result()
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await self.close()
            if not self.lost:
                store.release_lease(self.run_id, self.owner)

    async def beat(self) -> None:
        """Renew the lease, read the inbox, and apply approval timeouts, until the run ends."""
        store = self.engine.store
        while True:
            await asyncio.sleep(self.engine.heartbeat)
            if not store.renew_lease(self.run_id, self.owner, self.engine.lease_ttl):
                self.lost = True
                for task in self.tasks:
                    task.cancel()
                self.wake.set()
                return
            self.read_inbox()
            self.apply_timeouts()

    def read_inbox(self) -> None:
        for message in self.engine.store.take(self.run_id):
            if message.kind == "cancel":
                self.cancel_requested = message.data.get("by") or "a cancel request"
                for task in self.tasks:
                    task.cancel()
                self.wake.set()
            elif message.kind == "decision":
                sid = message.data.get("step", "")
                if sid in self.requested and sid not in self.decided:
                    self.decide(sid, message.data)
                else:
                    log.warning(
                        "run %s: ignored a decision for step %r, which is not waiting", self.run_id, sid
                    )

    def apply_timeouts(self) -> None:
        now = datetime.now(UTC)
        for sid in list(self.awaiting):
            request = self.requested.get(sid, {})
            deadline = request.get("deadline")
            if sid not in self.decided and deadline and datetime.fromisoformat(deadline) <= now:
                approve = request.get("on_timeout") == "approve"
                self.decide(
                    sid,
                    {"decision": "approved" if approve else "rejected", "by": "timeout",
                     "comment": f"no decision by {deadline}", "fields": {}},
                )  # fmt: skip

    def decide(self, sid: str, data: Mapping[str, Any]) -> None:
        decision = {
            "decision": data.get("decision"),
            "by": data.get("by"),
            "comment": data.get("comment"),
            "fields": dict(data.get("fields") or {}),
        }
        self.emit(EventType.APPROVAL_DECIDED, sid, **decision)
        self.decided[sid] = decision
        self.wake.set()

    async def schedule(self) -> Run:
        wf = self.wf
        graph_steps = wf.graph_steps
        settled = set(self.views)
        waiting = {sid: set(s.needs) - settled for sid, s in graph_steps.items() if sid not in settled}
        started: set[str] = set()
        deferred: list[str] = []
        failure: tuple[str, _StepOutcome] | None = None
        tasks = self.tasks

        def start(sid: str, *, handler_for: tuple[str, _StepOutcome] | None = None) -> None:
            if handler_for is None and (failure is not None or self.cancel_requested):
                deferred.append(sid)
                return
            started.add(sid)
            coro = self.step(sid) if handler_for is None else self.handle(sid, *handler_for)
            tasks[asyncio.create_task(coro, name=f"podium-step-{sid}")] = sid

        def release(sid: str) -> None:
            for dep in self.graph.dependants.get(sid, ()):
                pending = waiting.get(dep)
                if pending is None:
                    continue
                pending.discard(sid)
                if not pending and dep not in started:
                    start(dep)

        # A resumed run that waits on an on_failure approval: restore the failure it is about,
        # rather than calling the failed step again before the person's decision is applied.
        for failed_sid, data in self.progress.failed.items():
            fstep = wf.steps.get(failed_sid)
            handler = (fstep.on_failure if fstep else None) or wf.on_failure
            if handler and handler in self.requested and handler not in self.views and failure is None:
                error = PodiumError(data.get("message", ""), fix=data.get("fix"))
                error.kind = data.get("kind", "error")  # type: ignore[attr-defined]
                failure = (failed_sid, _StepOutcome(error, data.get("provider")))
                self.failures[handler] = failure
                self.awaiting.add(handler)
                started.update((failed_sid, handler))
        try:
            for sid, deps in waiting.items():
                if not deps and sid not in started:
                    start(sid)
            while True:
                while tasks:
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        sid = tasks.pop(task)
                        if task.cancelled():
                            continue
                        try:
                            status = task.result()
                        except _StepOutcome as outcome:
                            if sid in self.failures:  # the on_failure step itself failed
                                failure = failure or self.failures.pop(sid)
                                continue
                            handler = wf.steps[sid].on_failure or wf.on_failure
                            if handler and handler not in started and failure is None:
                                failure = (sid, outcome)
                                self.failures[handler] = failure
                                start(handler, handler_for=failure)
                            elif failure is None:
                                failure = (sid, outcome)
                            continue
                        except asyncio.CancelledError:
                            continue
                        if status is StepStatus.WAITING:
                            self.awaiting.add(sid)
                            continue
                        if sid in self.failures:
                            failed, _ = self.failures.pop(sid)
                            rejected = self.views.get(sid, {}).get("rejected")
                            if status is StepStatus.SUCCEEDED and wf.steps[sid].recover and not rejected:
                                self.recover(failed, sid)
                                failure = None
                                for later in deferred:
                                    start(later)
                                deferred.clear()
                                release(failed)
                            continue
                        release(sid)
                escalating = any(sid in self.failures for sid in self.awaiting)
                if self.cancel_requested or not self.awaiting or (failure is not None and not escalating):
                    break
                # Only approvals are left: apply the decisions we have, or wait for one.
                for sid in sorted(self.awaiting):
                    if sid in self.decided:
                        self.awaiting.discard(sid)
                        start(sid, handler_for=self.failures.get(sid))
                if tasks:
                    continue
                self.emit(EventType.RUN_WAITING, steps=sorted(self.awaiting), wait=self.wait)
                if not self.wait:
                    return self.result()
                # --wait: this process stays, listed as waiting, until the heartbeat brings a decision
                self.wake.clear()
                self.apply_timeouts()
                while not self.lost and not self.cancel_requested and not (self.awaiting & set(self.decided)):
                    await self.wake.wait()
                    self.wake.clear()
                if self.lost:
                    raise _LeaseLost
                if not self.cancel_requested:
                    self.emit(EventType.RUN_RESUMED, owner=self.owner, file_hash=wf.file_hash, changed=False)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.emit(EventType.RUN_FINISHED, status=str(RunStatus.CANCELLED), outputs={})
            raise
        except _LeaseLost:
            raise
        except BaseException as exc:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.emit(
                EventType.RUN_FINISHED, status=str(RunStatus.FAILED), outputs={},
                error={"step": None, "kind": "internal", "message": f"{type(exc).__name__}: {exc}"},
            )  # fmt: skip
            raise
        if self.lost:
            raise _LeaseLost
        if self.cancel_requested:
            self.emit(
                EventType.RUN_FINISHED, status=str(RunStatus.CANCELLED), outputs={},
                cancelled_by=self.cancel_requested,
            )  # fmt: skip
        elif failure is not None:
            self.finish_failed(*failure)
        else:
            try:
                outputs = self.render_outputs()
            except TemplateError as exc:
                self.finish_failed(None, _StepOutcome(exc, None))
            else:
                self.emit(EventType.RUN_FINISHED, status=str(RunStatus.SUCCEEDED), outputs=outputs)
        return self.result()

    def result(self) -> Run:
        """The run as its events tell it (read once: a resume's earlier events are already here)."""
        after = self.prior[-1].seq if self.prior else 0
        return fold([*self.prior, *self.engine.store.events(self.run_id, after=after)], self.wf.steps)

    def recover(self, failed: str, handler: str) -> None:
        """An on_failure step with `recover: true` succeeded: its output stands for the failed step's."""
        output = self.views[handler]["output"]
        self.views[failed] = {"output": output, "status": str(StepStatus.SUCCEEDED)}
        self.emit(EventType.STEP_SUCCEEDED, failed, output=output, recovered_by=handler)

    def finish_failed(self, step: str | None, outcome: _StepOutcome) -> None:
        err = outcome.error
        error = {
            "step": step,
            "kind": getattr(err, "kind", "error"),
            "message": err.message,
            "fix": err.fix,
            "provider": outcome.provider,
        }
        if isinstance(err, PolicyError):
            self.emit(EventType.RUN_STOPPED, step, reason=err.message, error=error)
        else:
            self.emit(EventType.RUN_FINISHED, status=str(RunStatus.FAILED), outputs={}, error=error)

    async def close(self) -> None:
        for provider in self.providers.values():
            try:
                await provider.aclose()
            except Exception:
                log.warning("closing provider %s failed", provider.name, exc_info=True)

    def render_outputs(self) -> dict[str, Any]:
        context = {"inputs": self.inputs, "steps": self.all_views()}
        return {
            name: _as_json_value(templates.render(src, context, where=f"outputs.{name}"))
            for name, src in self.wf.outputs.items()
        }

    def all_views(self) -> dict[str, dict[str, Any]]:
        views = dict(self.views)
        for sid in self.wf.steps:
            views.setdefault(sid, {"output": None, "status": str(StepStatus.PENDING)})
        return views

    # --- one step ---------------------------------------------------------------------------

    async def handle(self, sid: str, failed: str, outcome: _StepOutcome) -> StepStatus:
        """Run an on_failure step, with `failure` in its templates."""
        err = outcome.error
        failure = {
            "step": failed,
            "kind": getattr(err, "kind", "error"),
            "message": err.message,
            "fix": err.fix,
            "provider": outcome.provider,
        }
        return await self.step(sid, extra={"failure": failure, "steps": self.all_views()})

    async def step(self, sid: str, extra: Mapping[str, Any] | None = None) -> StepStatus:
        step = self.wf.steps[sid]
        context: dict[str, Any] = {"inputs": self.inputs, "steps": self.views, **(extra or {})}
        blocked = [
            d
            for d in step.needs
            if self.views[d]["status"] == StepStatus.SKIPPED or self.views[d].get("rejected")
        ]
        try:
            if step.when is not None:
                if not templates.truthy(templates.render(step.when, context, where=f"steps.{sid}.when")):
                    return self.skip(sid, f"when: {step.when!s} was false")
            elif blocked:
                why = "rejected" if self.views[blocked[0]].get("rejected") else "skipped"
                return self.skip(sid, f"needs '{blocked[0]}', which was {why}")
            if step.approval is not None:
                return self.approval(sid, step, context)
            items: list[Any] | None = None
            if step.foreach is not None:
                value = templates.render(step.foreach, context, where=f"steps.{sid}.foreach")
                if not isinstance(value, list):
                    raise TemplateError(
                        f"steps.{sid}.foreach gave {type(value).__name__}, not a list",
                        fix="make foreach a list, or an expression that yields one",
                    )
                items = value
        except TemplateError as exc:
            self.emit(EventType.STEP_STARTED, sid, agent=step.agent, items=None)
            return self.fail(sid, _StepOutcome(exc, None))
        self.emit(
            EventType.STEP_STARTED, sid, agent=step.agent, items=len(items) if items is not None else None
        )
        try:
            if items is None:
                output, provider, reply_seq = await self.call(sid, step, context, None, None)
            else:
                done = self.progress.items.get(sid, {})
                results = await asyncio.gather(
                    *(self.item(sid, step, context, i, item, done) for i, item in enumerate(items)),
                    return_exceptions=True,
                )
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
                output = list(results)
                provider = None
        except _StepOutcome as outcome:
            return self.fail(sid, outcome)
        except Exception as exc:  # a bug (ours or a plugin's) still ends the step visibly
            if isinstance(exc, _LeaseLost):
                raise
            log.exception("step %s failed unexpectedly", sid)
            error = PodiumError(f"internal error: {type(exc).__name__}: {exc}")
            return self.fail(sid, _StepOutcome(error, None))
        self.views[sid] = {"output": output, "status": str(StepStatus.SUCCEEDED)}
        if items is not None:
            # each item's output is in its ItemSucceeded event: store the list once, there
            self.emit(EventType.STEP_SUCCEEDED, sid, items=len(items))
        elif reply_seq is not None:
            # the output is the reply text, already in that CallFinished event: store it once
            self.emit(EventType.STEP_SUCCEEDED, sid, output_ref=reply_seq, provider=provider)
        else:
            self.emit(EventType.STEP_SUCCEEDED, sid, output=output, provider=provider)
        return StepStatus.SUCCEEDED

    async def item(
        self, sid: str, step: Step, context: dict[str, Any], index: int, item: Any, done: Mapping[int, Any]
    ) -> Any:
        if index in done:  # finished before a resume: keep it, do not re-pay for it
            return done[index]
        output, provider, reply_seq = await self.call(sid, step, context, index, item)
        if reply_seq is not None:
            self.emit(EventType.ITEM_SUCCEEDED, sid, item=index, output_ref=reply_seq, provider=provider)
        else:
            self.emit(EventType.ITEM_SUCCEEDED, sid, item=index, output=output, provider=provider)
        return output

    def approval(self, sid: str, step: Step, context: dict[str, Any]) -> StepStatus:
        """Settle an approval step from its decision, or request one and report WAITING."""
        spec = step.approval
        assert spec is not None
        if sid in self.decided:
            d = self.decided[sid]
            approved = d.get("decision") == "approved"
            output = {
                "decision": d.get("decision"),
                "approved": approved,
                "by": d.get("by"),
                "comment": d.get("comment"),
                **(d.get("fields") or {}),
            }
            self.views[sid] = {"output": output, "status": str(StepStatus.SUCCEEDED)}
            if not approved:
                self.views[sid]["rejected"] = True
            self.emit(EventType.STEP_SUCCEEDED, sid, output=output, rejected=not approved)
            return StepStatus.SUCCEEDED
        if sid not in self.requested:
            try:
                message = templates.render(spec.message, context, where=f"steps.{sid}.approval.message")
            except TemplateError as exc:
                return self.fail(sid, _StepOutcome(exc, None))
            deadline = (
                (datetime.now(UTC) + timedelta(seconds=spec.timeout)).isoformat() if spec.timeout else None
            )
            request = {
                "message": message if isinstance(message, str) else json.dumps(message),
                "fields": {k: f.model_dump() for k, f in spec.fields.items()},
                "deadline": deadline,
                "on_timeout": spec.on_timeout,
            }
            self.emit(EventType.STEP_STARTED, sid, agent=None, items=None)
            self.emit(EventType.APPROVAL_REQUESTED, sid, **request)
            self.requested[sid] = request
        self.awaiting.add(sid)
        self.apply_timeouts()
        if sid in self.decided:
            self.awaiting.discard(sid)
            return self.approval(sid, step, context)
        return StepStatus.WAITING

    def skip(self, sid: str, reason: str) -> StepStatus:
        self.views[sid] = {"output": None, "status": str(StepStatus.SKIPPED)}
        self.emit(EventType.STEP_SKIPPED, sid, reason=reason)
        return StepStatus.SKIPPED

    def fail(self, sid: str, outcome: _StepOutcome) -> StepStatus:
        err = outcome.error
        extra = {"stopped": True} if isinstance(err, PolicyError) else {}
        self.emit(
            EventType.STEP_FAILED,
            sid,
            kind=getattr(err, "kind", "error"),
            message=err.message,
            fix=err.fix,
            provider=outcome.provider,
            **extra,
        )
        raise outcome

    # --- the call policy: retries, backoff, timeouts, fallback, validation, repair ----------

    def backoff(self, retry_index: int, step: Step, retry_after: float | None) -> float:
        policy = self.wf.defaults.retry.merged(step.retry)
        delay = min(policy.max_backoff, policy.backoff * policy.multiplier**retry_index)
        if policy.jitter:
            delay *= 0.5 + self.engine.rng.random() / 2
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    async def call(
        self, sid: str, step: Step, context: dict[str, Any], index: int | None, item: Any
    ) -> tuple[Any, str, int | None]:
        """One unit of work (a step, or one item of a foreach): the whole retry/fallback policy."""
        wf = self.wf
        agent = wf.agents[step.agent]
        policy = wf.defaults.retry.merged(step.retry)
        timeout = step.timeout or wf.defaults.timeout
        schema = wf.output_schema(step)
        where = f"steps.{sid}.prompt" + (f" (item {index})" if index is not None else "")
        local = dict(context)
        if index is not None:
            local["item"], local["index"] = item, index
        try:
            prompt_value = templates.render(step.prompt, local, where=where)
            instructions = (
                templates.render(agent.instructions, local, where=f"agents.{step.agent}.instructions")
                if agent.instructions
                else None
            )
        except TemplateError as exc:
            raise _StepOutcome(exc, None) from None
        prompt = prompt_value if isinstance(prompt_value, str) else json.dumps(prompt_value)
        messages = [Message(role="user", content=prompt)]
        call_context = {
            "prompt": prompt_value,
            "inputs": self.inputs,
            "steps": UpstreamOutputs(self.views, self.graph, sid) if agent.function else {},
            "step": sid,
            "run_id": self.run_id,
            "agent": step.agent,
        }
        if index is not None:
            call_context["item"], call_context["index"] = item, index
        key = (sid, index)
        if (stored := self.progress.replies.pop(key, None)) is not None:
            # This call finished before the run stopped, but no step recorded its result: use it.
            response = (
                AgentResponse(text=stored.reply)
                if isinstance(stored.reply, str)
                else AgentResponse(output=stored.reply)
            )
            try:
                value = parse_output(response, schema)
            except OutputInvalid:
                pass  # it was not good enough: call again
            else:
                return value, stored.provider, stored.seq if value == stored.reply else None
        # A call in flight when the run stopped is re-issued under its own attempt number, so the
        # provider sees the same idempotency key; later attempts are numbered after every earlier one.
        attempt = self.progress.attempts.get(key, 0)
        reissue = self.progress.inflight.pop(key, None) is not None
        repaired = False
        last: StepError | None = None
        last_provider: str | None = None
        for pname in self.chain(step):
            last_provider = pname
            try:
                provider = self.provider(pname)
            except PodiumError as exc:
                last = ProviderError(exc.message, fix=exc.fix, provider=pname)
                continue
            tries = 0
            while tries < policy.attempts:
                tries += 1
                if reissue:
                    reissue = False
                else:
                    attempt += 1
                request = AgentRequest(
                    run_id=self.run_id,
                    step=sid,
                    agent=step.agent,
                    attempt=attempt,
                    item=index,
                    provider=pname,
                    model=provider.resolve_model(agent.model),
                    instructions=instructions,
                    function=agent.function,
                    tools=agent.tools,
                    binding=agent.bindings.get(pname, {}),
                    options=agent.options,
                    messages=messages,
                    output_schema=schema,
                    idempotency_key=f"{self.run_id}:{sid}:{'' if index is None else index}:{attempt}",
                    session_id=f"{self.run_id}-{sid}" + ("" if index is None else f"-{index}"),
                    timeout=timeout,
                    context=call_context,
                )
                try:
                    response, seq = await self.invoke(provider, request, repair=repaired)
                    value = parse_output(response, schema)
                    same = isinstance(value, str) and response.output is None and value == response.text
                    return value, pname, seq if same else None
                except OutputInvalid as exc:
                    self.emit(
                        EventType.CALL_FAILED, sid, attempt, provider=pname, item=index,
                        kind=exc.kind, message=exc.message, retryable=not repaired, delay=None,
                    )  # fmt: skip
                    if repaired or schema is None:
                        raise _StepOutcome(exc, pname) from None
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
                        Message(role="user", content=_repair_message(exc, schema)),
                    ]
                except PolicyError as exc:
                    raise _StepOutcome(exc, pname) from None
                except StepError as exc:
                    last = exc
                    more = exc.retryable and tries < policy.attempts
                    delay = self.backoff(tries - 1, step, exc.retry_after) if more else None
                    self.emit(
                        EventType.CALL_FAILED, sid, attempt, provider=pname, item=index,
                        kind=exc.kind, message=exc.message, retryable=exc.retryable,
                        retry_after=exc.retry_after, delay=delay,
                    )  # fmt: skip
                    if delay is None:
                        break
                    await self.engine.clock.sleep(delay)
        assert last is not None
        raise _StepOutcome(last, last_provider)

    async def invoke(
        self, provider: Provider, request: AgentRequest, *, repair: bool
    ) -> tuple[AgentResponse, int]:
        """One call: the before-call hook, the limits, the timeout, and its events."""
        sid, attempt, pname = request.step, request.attempt, request.provider
        self.hook_before(run=self.ctx, step=sid, request=request)
        limit = self.limits.get(pname)
        # the provider's own limit first: a call queued for a busy provider holds no global slot
        if limit is not None:
            await limit.acquire()
        try:
            async with self.global_limit:
                self.emit(
                    EventType.CALL_STARTED, sid, attempt, provider=pname, model=request.model,
                    agent=request.agent, item=request.item, idempotency_key=request.idempotency_key,
                    session_id=request.session_id, repair=repair,
                    prompt=request.messages[-1].content,
                )  # fmt: skip
                started = self.engine.clock.monotonic()
                try:
                    if request.timeout is not None:
                        async with asyncio.timeout(request.timeout):
                            response = await provider.invoke(request)
                    else:
                        response = await provider.invoke(request)
                except TimeoutError:
                    raise CallTimeout(
                        f"{pname} did not answer within {request.timeout:g}s",
                        fix="raise the step's timeout:, or check the provider",
                        provider=pname,
                    ) from None
                except asyncio.CancelledError:
                    self.emit(
                        EventType.CALL_FAILED, sid, attempt, provider=pname, item=request.item,
                        kind="cancelled", message="the run was cancelled", retryable=True,
                        delay=None,
                    )  # fmt: skip
                    raise
                except StepError:
                    raise
                except Exception as exc:  # a provider that did not map its own error
                    raise ProviderError(
                        f"{pname} raised {type(exc).__name__}: {exc}", provider=pname
                    ) from exc
                elapsed = (self.engine.clock.monotonic() - started) * 1000
        finally:
            if limit is not None:
                limit.release()
        reply: Any = response.text if response.output is None else _as_json_value(response.output)
        finished = self.emit(
            EventType.CALL_FINISHED, sid, attempt, provider=pname,
            model=response.model or request.model, item=request.item,
            usage=response.usage.model_dump(), latency_ms=response.latency_ms or elapsed,
            response_id=response.response_id, session_id=response.session_id or request.session_id,
            reply=reply, native=response.native or None,
        )  # fmt: skip
        return response, finished.seq
