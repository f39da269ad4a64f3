"""Problems found while loading: collected with their position, pydantic errors in the user's words."""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ValidationError

from podium.core.errors import Problem, WorkflowError
from podium.core.loader.fixes import did_you_mean, untangle, value_fix
from podium.core.loader.positions import Path_, Positions, dotted
from podium.core.spec import (
    Agent,
    AgentTool,
    Approval,
    Budget,
    Defaults,
    Input,
    MockReply,
    Output,
    Retry,
    Step,
    Workflow,
)


def suggest(name: str, options: Collection[str]) -> str:
    """'; did you mean 'x'?' when a close option exists, else ''."""
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class _Problems:
    def __init__(self, file: str, positions: Positions) -> None:
        self.file = file
        self.positions = positions
        self.items: list[Problem] = []
        self._seen: set[Problem] = set()

    def add(self, path: Path_, message: str, fix: str | None = None) -> None:
        line = col = None
        probe = path
        while probe:
            if probe in self.positions:
                line, col = self.positions[probe]
                break
            probe = probe[:-1]
        problem = Problem(self.file, dotted(path), message, line, col, fix)
        if problem not in self._seen:  # a template reading the same wrong name twice: said once
            self._seen.add(problem)
            self.items.append(problem)

    def raise_if_any(self) -> None:
        if self.items:
            self.items.sort(key=lambda p: (p.line or 0, p.column or 0))
            raise WorkflowError(self.items)


def shown(value: Any) -> str:
    """A value as JSON, cut to a length that fits in a one-line problem."""
    text = json.dumps(value, default=str)
    return text[:57] + "..." if len(text) > 60 else text


def _model_at(loc: Path_) -> type[BaseModel] | None:
    """Which spec model sits at a pydantic error location (for 'did you mean' on unknown keys)."""
    if not loc:
        return Workflow
    head, rest = loc[0], loc[1:]
    if head == "defaults":
        return Defaults if not rest else (Retry if rest[0] == "retry" else None)
    if head == "steps" and rest:
        if len(rest) == 1:
            return Step
        if len(rest) == 2:
            return {"retry": Retry, "output": Output, "approval": Approval}.get(str(rest[1]))
        return None
    if head == "inputs" and len(rest) == 1:
        return Input
    if head == "agents" and len(rest) == 1:
        return Agent
    if head == "agents" and len(rest) == 3 and rest[1] == "tools":
        return AgentTool
    if head == "budget" and not rest:
        return Budget
    if head == "mock" and len(rest) in (1, 2):
        return MockReply
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _all_fields(loc: Any) -> list[str]:
    model = _model_at(tuple(loc))
    return _field_names(model) if model else []


def _mock_problems(errors: list[Any], problems: _Problems, data: Any) -> None:
    """One problem per mock entry, not one per shape a mock entry may take."""
    by_key: dict[str, list[Any]] = {}
    for err in errors:
        by_key.setdefault(str(err["loc"][1]), []).append(err)
    fields = _field_names(MockReply)
    for key, errs in by_key.items():
        # a reply mapping (or a list of them) with something wrong in it: each thing, with its fix
        precise = [e for e in untangle(errs, data) if e["type"] != "union"]
        for err in precise:
            loc, kind = tuple(err["loc"]), err["type"]
            if kind == "extra_forbidden":
                word = str(loc[-1])
                problems.add(
                    loc,
                    f"unknown key '{word}' in a mock reply{suggest(word, fields)}",
                    fix=f"keys of a mock reply: {', '.join(fields)}",
                )
            elif kind == "value_error":
                problems.add(loc, err["msg"].removeprefix("Value error, "))
            else:
                got = shown(err.get("input"))
                problems.add(loc, f"{err['msg']}{did_you_mean(err)} (got {got})", fix=value_fix(err))
        if not precise:
            problems.add(
                ("mock", key),
                "a mock entry must be text, a number, a reply mapping, or a list of those",
                fix="write e.g. mock: {draft: 'text'} or {draft: {reply: text, latency: 0.2}}",
            )


def _pydantic_problems(exc: ValidationError, problems: _Problems, data: Any = None) -> None:
    errors: list[Any] = exc.errors()
    mock = [e for e in errors if len(e["loc"]) >= 2 and e["loc"][0] == "mock"]
    if mock:
        _mock_problems(mock, problems, data)
    errors = [e for e in errors if e not in mock]
    if data is not None:
        errors = untangle(errors, data)
    # a misspelled required key ('step:' for 'steps:') is reported once, as the misspelling
    misspelled = {
        (tuple(e["loc"][:-1]), m)
        for e in errors
        if e["type"] == "extra_forbidden"
        for m in difflib.get_close_matches(str(e["loc"][-1]), _all_fields(e["loc"][:-1]), 1, 0.6)
    }
    for err in errors:
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "missing" and (loc[:-1], loc[-1]) in misspelled:
            continue
        if kind == "extra_forbidden":
            key = str(loc[-1])
            model = _model_at(loc[:-1])
            names = _field_names(model) if model else []
            where = dotted(loc[:-1]) or "the top level"
            hint = suggest(key, names)
            problems.add(
                loc,
                f"unknown key '{key}'{hint}",
                fix=f"keys allowed in {where}: {', '.join(names)}" if names else "remove it",
            )
        elif kind == "missing":
            problems.add(loc, f"'{loc[-1]}' is required", fix=f"add '{loc[-1]}:'")
        elif kind == "model_type" and (model := _model_at(loc)) is not None:
            given = err.get("input")
            names = _field_names(model)
            if model is Budget and isinstance(given, int | float) and not isinstance(given, bool):
                # a bare amount: what most write first
                fix = f"write budget: {{run: {given}}} (US dollars a run may spend; daily: and monthly: too)"
            else:
                fix = f"write it as a mapping of: {', '.join(names)}"
            problems.add(loc, f"must be a mapping, not {shown(given)}", fix=fix)
        elif kind == "union":
            problems.add(loc, f"{err['msg']} (got {shown(err.get('input'))})", fix=err["fix"])
        else:
            got = shown(err.get("input"))
            problems.add(loc, f"{err['msg']}{did_you_mean(err)} (got {got})", fix=value_fix(err))
