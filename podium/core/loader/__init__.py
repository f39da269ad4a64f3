"""YAML → Workflow, with errors that name the file, line, field and the fix; and run inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from podium.core.errors import Problem, WorkflowError
from podium.core.loader.bindings import (
    CLOUD_EXTRAS,
    _check_bindings,
    _check_provider_settings,
    _check_providers,
)
from podium.core.loader.checks import (
    _check_agents,
    _check_inputs,
    _check_mock,
    _check_outputs,
    _check_steps,
    _check_templates,
)
from podium.core.loader.fast_yaml import NotFast, read_fast
from podium.core.loader.inputs import coerce_input, resolve_inputs
from podium.core.loader.positions import Path_, Positions, _parse_yaml, dotted
from podium.core.loader.problems import _Problems, _pydantic_problems, suggest
from podium.core.spec import Workflow

__all__ = [
    "CLOUD_EXTRAS",
    "Path_",
    "Positions",
    "coerce_input",
    "dotted",
    "load",
    "parse",
    "resolve_inputs",
    "suggest",
]


def parse(
    text: str,
    *,
    file: str = "<workflow>",
    base_dir: Path | None = None,
    providers: Collection[str] | None = None,
    provider_configs: Mapping[str, type[BaseModel]] | None = None,
    provider_bindings: Mapping[str, type[BaseModel]] | None = None,
    check_functions: bool = True,
) -> Workflow:
    """Parse and check a workflow's YAML text; raise WorkflowError listing every problem found.

    `providers` names the installed providers; `provider_configs` and `provider_bindings` map a
    provider's name to the pydantic model of its `providers:` settings and of an agent's section
    named after it. Checks against what is not given are skipped.

    libyaml reads the text when it reads it exactly as ruamel would (see `fast_yaml`); it keeps no
    line numbers, so when there is a problem to report, or libyaml is not sure, ruamel reads the text
    again and the checks run again with the positions it keeps: a problem reads the same either way.
    """
    checks = (base_dir, providers, provider_configs, provider_bindings, check_functions)
    try:
        data = read_fast(text)
    except NotFast:
        pass
    else:
        try:
            return _checked(data, file, {}, *checks)
        except WorkflowError:
            pass
    data, positions = _parse_yaml(text, file)
    return _checked(data, file, positions, *checks)


def _checked(
    data: Any,
    file: str,
    positions: Positions,
    base_dir: Path | None,
    providers: Collection[str] | None,
    provider_configs: Mapping[str, type[BaseModel]] | None,
    provider_bindings: Mapping[str, type[BaseModel]] | None,
    check_functions: bool,
) -> Workflow:
    problems = _Problems(file, positions)
    if data is None or data == {}:
        problems.add((), "the workflow file is empty", fix="start with name:, agents: and steps:")
        problems.raise_if_any()
    if not isinstance(data, dict):
        problems.add(
            (),
            f"a workflow must be a mapping at the top (got {type(data).__name__})",
            fix="a workflow file is a mapping: start with name:, agents: and steps:",
        )
        problems.raise_if_any()
    # a section whose entries are all commented out reads as null: it is an empty section
    for key in ("steps", "agents", "inputs", "outputs", "mock", "providers", "types", "defaults"):
        if key in data and data[key] is None:
            data[key] = {}
    try:
        wf = Workflow.model_validate(data)
    except ValidationError as exc:
        _pydantic_problems(exc, problems, data)
        # Unknown keys alone: drop them and go on, so one pass reports the other problems too.
        if any(e["type"] != "extra_forbidden" for e in exc.errors()):
            problems.raise_if_any()
        for err in exc.errors():
            parent: Any = data
            for part in err["loc"][:-1]:
                parent = parent[part]
            parent.pop(err["loc"][-1], None)
        try:
            wf = Workflow.model_validate(data)
        except ValidationError:
            problems.raise_if_any()
            raise
    base = base_dir or Path.cwd()
    _check_providers(wf, providers, problems)
    _check_provider_settings(wf, provider_configs, problems)
    _check_bindings(wf, provider_bindings, problems)
    graph = _check_steps(wf, problems)
    _check_templates(wf, graph, problems)
    _check_outputs(wf, base, problems)
    _check_inputs(wf, problems)
    _check_mock(wf, problems)
    if check_functions:
        _check_agents(wf, base, problems)
    problems.raise_if_any()
    _share_fields_sets(wf)
    return wf


def _share_fields_sets(wf: Workflow) -> None:
    """Steps that set the same fields share one set of their names (pydantic keeps one a model).

    A 10,000-step chain sets `agent`, `needs` and `prompt` on every step: one set of 216 bytes
    instead of 10,000 (2 MiB). The steps are frozen, and pydantic copies the set when it copies a
    model (`model_copy`), so no step's set changes under another.
    """
    shared: dict[frozenset[str], set[str]] = {}
    for step in wf.steps.values():
        names = step.__pydantic_fields_set__
        one = shared.setdefault(frozenset(names), names)
        if one is not names:
            object.__setattr__(step, "__pydantic_fields_set__", one)


def load(
    path: str | Path,
    *,
    providers: Collection[str] | None = None,
    provider_configs: Mapping[str, type[BaseModel]] | None = None,
    provider_bindings: Mapping[str, type[BaseModel]] | None = None,
) -> Workflow:
    """Read, parse and check a workflow file. See `parse` for what is checked."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise WorkflowError(
            [Problem(str(path), "", "no such file", fix="check the path to the workflow file")]
        ) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise WorkflowError(
            [
                Problem(
                    str(path),
                    "",
                    f"cannot read: {exc.strerror}",
                    fix="give the path of a workflow .yaml file",
                )
            ]
        ) from None
    except OSError as exc:
        # a symlink loop (ELOOP), a name too long, a dangling network mount: still the user's path
        raise WorkflowError(
            [
                Problem(
                    str(path),
                    "",
                    f"cannot read: {exc.strerror or exc}",
                    fix="check the path: give a readable workflow .yaml file (or a symlink to one)",
                )
            ]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problem = Problem(
            str(path),
            "",
            f"not UTF-8 text (byte {exc.start}, line {line})",
            line=line,
            fix="save the file as UTF-8 (a workflow file is YAML text)",
        )
        raise WorkflowError([problem]) from None
    wf = parse(
        text,
        file=str(path),
        base_dir=file.resolve().parent,
        providers=providers,
        provider_configs=provider_configs,
        provider_bindings=provider_bindings,
    )
    wf._path = file.resolve()
    wf._file_hash = hashlib.sha256(raw).hexdigest()
    return wf
