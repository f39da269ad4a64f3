"""A step's tool calls as events: each finished call is a ToolCalled event, replayed rather than re-run.

A provider runs an agent's tools in its worker thread, in the middle of its own SDK call. The engine
hands each call a `StepTools` (the `ToolLog` of `podium.core.calls`): it writes every finished tool
call through the run's one event writer, on the run's loop, and answers "did this call finish
before?" from the run's events, so that a resumed run, a retried call or the call re-made after a
person approved a tool replays what a tool returned instead of running it twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from podium.core.calls import RecordedTool
from podium.core.events import EventType
from podium.core.replay import ToolKey
from podium.core.state import RunState

log = logging.getLogger("podium")


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON: arguments read back from the log are JSON values, live ones may not be yet."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


class StepTools:
    """The tool calls of one call of one step (or foreach item), kept as the run's events.

    A finished call is found again by the step, the item and its position among the request's
    tool calls, and only when the agent asks for the same tool with the same arguments there.
    """

    def __init__(
        self,
        state: RunState,
        step: str,
        item: int | None,
        *,
        attempt: int,
        idempotency_key: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.state = state
        self.step = step
        self.item = item
        self.attempt = attempt
        self.idempotency_key = idempotency_key
        self.loop = loop

    def _key(self, index: int) -> ToolKey:
        return (self.step, self.item, index)

    def finished(self, index: int, name: str, arguments: Mapping[str, Any]) -> RecordedTool | None:
        data = self.state.progress.tool_calls.get(self._key(index))
        if data is None or data.get("name") != name or not _same(data.get("arguments"), dict(arguments)):
            return None
        return RecordedTool(
            name=name,
            arguments=dict(arguments),
            result=data.get("result"),
            text=str(data.get("text", "")),
            error=bool(data.get("error")),
        )

    def record(self, index: int, call: Mapping[str, Any]) -> None:
        data = {"item": self.item, "index": index, "idempotency_key": self.idempotency_key, **call}

        def write() -> None:
            self.state.events.emit(EventType.TOOL_CALLED, self.step, self.attempt, **data)
            self.state.events.flush()  # on record before the agent is given the tool's result
            self.state.progress.tool_calls[self._key(index)] = data

        self._on_loop(write)

    def decision(self, index: int, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any] | None:
        asked = self.state.requested.get(self.step) or {}
        tool = asked.get("tool")
        if not isinstance(tool, Mapping) or self.step not in self.state.decided:
            return None
        if (tool.get("name"), tool.get("item"), tool.get("index")) != (name, self.item, index):
            return None
        if not _same(tool.get("arguments"), dict(arguments)):
            return None
        return self.state.decided[self.step]

    def _on_loop(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the run's loop (the event writer is not thread-safe) and wait for it."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            fn()
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                done.set_exception(exc)
            else:
                done.set_result(None)

        try:
            self.loop.call_soon_threadsafe(run)
        except RuntimeError:  # the run has ended (its loop is closed): nobody is left to record for
            self._late()
            return
        while True:
            try:
                return done.result(timeout=0.5)
            except concurrent.futures.TimeoutError:
                if self.loop.is_closed() or not self.loop.is_running():
                    self._late()
                    return

    def _late(self) -> None:
        log.warning(
            "run %s: a tool call of step %s finished after the run ended", self.state.run_id, self.step
        )
