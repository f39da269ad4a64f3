"""YAML → Workflow, with errors that name the file, line, field and the fix; and run inputs."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from podium.core import templates
from podium.core.errors import InputError, Problem, WorkflowError
from podium.core.functions import import_function
from podium.core.graph import Graph
from podium.core.spec import (
    BUILTIN_OUTPUT_TYPES,
    INPUT_TYPES,
    Agent,
    Defaults,
    Input,
    MockReply,
    Output,
    Retry,
    Step,
    Workflow,
)

Path_ = tuple[str | int, ...]
# Providers podium ships as extras; named in errors even when not installed.
CLOUD_EXTRAS = ("bedrock", "vertex", "azure")
Positions = dict[Path_, tuple[int, int]]


def suggest(name: str, options: Collection[str]) -> str:
    """'; did you mean 'x'?' when a close option exists, else ''."""
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- YAML with positions --------------------------------------------------------------------


def _plain(node: Any, path: Path_, positions: Positions) -> Any:
    """CommentedMap/Seq → dict/list, recording the 1-based (line, column) of every key and item."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            sub = (*path, str(key))
            try:
                line, col = node.lc.key(key)
            except (KeyError, TypeError):
                line, col = node.lc.line, node.lc.col
            positions[sub] = (line + 1, col + 1)
            out[str(key)] = _plain(value, sub, positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            try:
                line, col = node.lc.item(i)
                positions[(*path, i)] = (line + 1, col + 1)
            except (KeyError, TypeError, IndexError):
                pass
            items.append(_plain(value, (*path, i), positions))
        return items
    if isinstance(node, str):
        return str(node)
    return node


def _parse_yaml(text: str, file: str) -> tuple[Any, Positions]:
    yaml = YAML(typ="rt", pure=True)
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        raise WorkflowError(
            [
                Problem(
                    file,
                    "",
                    f"malformed YAML: {problem}",
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                    fix="fix the YAML syntax at that line (indentation, quoting, a missing colon)",
                )
            ]
        ) from None
    except YAMLError as exc:
        raise WorkflowError([Problem(file, "", f"malformed YAML: {exc}")]) from None
    positions: Positions = {}
    return _plain(data, (), positions), positions


# --- problems -------------------------------------------------------------------------------


class _Problems:
    def __init__(self, file: str, positions: Positions) -> None:
        self.file = file
        self.positions = positions
        self.items: list[Problem] = []

    def add(self, path: Path_, message: str, fix: str | None = None) -> None:
        line = col = None
        probe = path
        while probe:
            if probe in self.positions:
                line, col = self.positions[probe]
                break
            probe = probe[:-1]
        self.items.append(Problem(self.file, dotted(path), message, line, col, fix))

    def raise_if_any(self) -> None:
        if self.items:
            self.items.sort(key=lambda p: (p.line or 0, p.column or 0))
            raise WorkflowError(self.items)


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
        return {"retry": Retry, "output": Output}.get(str(rest[1]))
    if head == "inputs" and len(rest) == 1:
        return Input
    if head == "agents" and len(rest) == 1:
        return Agent
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _all_fields(loc: Any) -> list[str]:
    model = _model_at(tuple(loc))
    return _field_names(model) if model else []


def _mock_problems(errors: list[Any], problems: _Problems) -> None:
    """One problem per mock entry, not one per shape a mock entry may take."""
    by_key: dict[str, list[Any]] = {}
    for err in errors:
        by_key.setdefault(str(err["loc"][1]), []).append(err)
    fields = _field_names(MockReply)
    for key, errs in by_key.items():
        unknown = [e for e in errs if e["type"] == "extra_forbidden"]
        if unknown:
            loc = tuple(unknown[0]["loc"])
            word = str(loc[-1])
            problems.add(
                ("mock", key, *[p for p in loc[2:] if isinstance(p, int)], word),
                f"unknown key '{word}' in a mock reply{suggest(word, fields)}",
                fix=f"keys of a mock reply: {', '.join(fields)}",
            )
            continue
        specific = [e for e in errs if e["type"] == "value_error"]
        if specific:
            problems.add(("mock", key), specific[0]["msg"].removeprefix("Value error, "))
            continue
        problems.add(
            ("mock", key),
            "a mock entry must be text, a number, a reply mapping, or a list of those",
            fix="write e.g. mock: {draft: 'text'} or {draft: {reply: text, latency: 0.2}}",
        )


def _pydantic_problems(exc: ValidationError, problems: _Problems) -> None:
    errors = exc.errors()
    mock = [e for e in errors if len(e["loc"]) >= 2 and e["loc"][0] == "mock"]
    if mock:
        _mock_problems(mock, problems)
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
        if err in mock:
            continue
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
        else:
            shown = json.dumps(err.get("input"), default=str)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            problems.add(loc, f"{err['msg']} (got {shown})")


# --- semantic checks ------------------------------------------------------------------------


def _check_providers(wf: Workflow, known: Collection[str] | None, p: _Problems) -> None:
    if known is None:
        return
    listing = ", ".join(sorted(known))

    def check(path: Path_, name: str) -> None:
        if name in known:
            return
        if name in CLOUD_EXTRAS:
            p.add(
                path,
                f"provider '{name}' is not installed (installed: {listing})",
                fix=f"pip install 'podium[{name}]'",
            )
            return
        p.add(
            path,
            f"unknown provider '{name}'{suggest(name, {*known, *CLOUD_EXTRAS})}",
            fix=f"installed providers: {listing}; the clouds come as extras"
            f" ({', '.join(CLOUD_EXTRAS)}), e.g. pip install 'podium[bedrock]'",
        )

    check(("defaults", "provider"), wf.defaults.provider)
    for i, name in enumerate(wf.defaults.fallback):
        check(("defaults", "fallback", i), name)
    for pname in wf.providers:
        check(("providers", pname), pname)
    for aname, agent in wf.agents.items():
        if agent.provider:
            check(("agents", aname, "provider"), agent.provider)
        for i, name in enumerate(agent.fallback or ()):
            check(("agents", aname, "fallback", i), name)
        allowed = [*_field_names(Agent), *known]
        for key, value in agent.bindings.items():
            if key not in known:
                p.add(
                    ("agents", aname, key),
                    f"unknown key '{key}'{suggest(key, allowed)}",
                    fix=f"keys allowed in an agent: {', '.join(_field_names(Agent))},"
                    f" or a provider name ({listing}) holding that provider's binding",
                )
            elif not isinstance(value, dict):
                p.add(
                    ("agents", aname, key),
                    f"the {key} binding must be a mapping (got {type(value).__name__})",
                    fix=f"write it as {key}: {{key: value, ...}}",
                )
    for sid, step in wf.steps.items():
        for i, name in enumerate(step.fallback or ()):
            check(("steps", sid, "fallback", i), name)


def _check_provider_settings(
    wf: Workflow, configs: Mapping[str, type[BaseModel]] | None, p: _Problems
) -> None:
    if not configs:
        return
    for pname, settings in wf.providers.items():
        model = configs.get(pname)
        if model is None:
            continue
        try:
            model.model_validate(settings)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ("providers", pname, *err["loc"])
                if err["type"] == "extra_forbidden":
                    key = str(err["loc"][-1])
                    names = _field_names(model)
                    p.add(
                        loc,
                        f"unknown setting '{key}'{suggest(key, names)}",
                        fix=f"settings of provider {pname}: {', '.join(names)}",
                    )
                else:
                    p.add(loc, err["msg"])


def _check_import(reference: str, path: Path_, base_dir: Path, p: _Problems) -> None:
    try:
        import_function(reference, base_dir)
    except ValueError as exc:
        p.add(path, str(exc), fix="write it as package.module:function")
    except (ImportError, AttributeError, TypeError) as exc:
        p.add(
            path,
            f"cannot load '{reference}': {type(exc).__name__}: {exc}",
            fix=f"put the module next to the workflow file ({base_dir}) or on the Python path",
        )
    except Exception as exc:  # the user's module raised while importing
        p.add(path, f"importing '{reference}' raised {type(exc).__name__}: {exc}")


def _check_agents(wf: Workflow, base_dir: Path, p: _Problems) -> None:
    for aname, agent in wf.agents.items():
        for tool, reference in agent.tools.items():
            _check_import(reference, ("agents", aname, "tools", tool), base_dir, p)
        if agent.function is None:
            continue
        if agent.provider not in (None, "local"):
            p.add(
                ("agents", aname, "provider"),
                f"a function agent runs in-process, on the local provider, not on '{agent.provider}'",
                fix="remove provider:, or bind the agent to a model or managed agent instead",
            )
        _check_import(agent.function, ("agents", aname, "function"), base_dir, p)


def _check_schema(schema: Any, path: Path_, p: _Problems) -> None:
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, dict):
        p.add(path, "a JSON Schema must be a mapping", fix="write e.g. {type: object}")
        return
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(x) for x in exc.path) or "the schema"
        p.add(
            path,
            f"invalid JSON Schema at {where}: {exc.message}",
            fix="write a JSON Schema such as {type: object, required: [title],"
            " properties: {title: {type: string}}}",
        )


def _check_outputs(wf: Workflow, p: _Problems) -> None:
    for tname, schema in wf.types.items():
        _check_schema(schema, ("types", tname), p)
    for sid, step in wf.steps.items():
        out = step.output
        if out is None:
            continue
        path = ("steps", sid, "output")
        if out.schema_ is not None and out.type is not None:
            p.add(path, "give either schema or type, not both", fix="remove one of them")
        elif out.schema_ is not None:
            _check_schema(out.schema_, (*path, "schema"), p)
        elif out.type is not None and out.type not in wf.types and out.type not in BUILTIN_OUTPUT_TYPES:
            names = [*BUILTIN_OUTPUT_TYPES, *wf.types]
            p.add(
                (*path, "type"),
                f"unknown type '{out.type}'{suggest(out.type, names)}",
                fix=f"use one of {', '.join(names)}, or declare it under types:",
            )


class _Upstream:
    """`name in upstream` for one step: its direct needs at once, the full set only if asked."""

    def __init__(self, graph: Graph, step: str, needs: Collection[str]) -> None:
        self.graph, self.step, self.needs = graph, step, set(needs)
        self.all: frozenset[str] | None = None

    def __contains__(self, name: object) -> bool:
        if name in self.needs:
            return True
        if self.all is None:
            self.all = self.graph.upstream(self.step)
        return name in self.all


def _check_template(
    source: Any,
    path: Path_,
    wf: Workflow,
    upstream: Collection[str] | _Upstream | None,
    extra_names: Collection[str],
    p: _Problems,
) -> None:
    """Syntax, and that every name read is an input, an upstream step or a loop variable."""
    if not isinstance(source, str) or "{" not in source:
        return
    if (error := templates.check_syntax(source)) is not None:
        p.add(
            path,
            error,
            fix="close each {{ }} and {% %}; write a literal brace as {{ '{{' }}",
        )
        return
    allowed = {"inputs", "steps", *extra_names}
    builtin = {"loop", "self", "varargs", "kwargs", *templates.environment().globals}
    for ref in templates.references(source):
        if ref.name in builtin and ref.name not in allowed:
            continue
        if ref.name not in allowed:
            p.add(
                path,
                f"'{ref.name}' is not defined{suggest(ref.name, allowed)}",
                fix=f"a template here can read: {', '.join(sorted(allowed))}",
            )
        elif ref.name == "inputs" and ref.attr is not None and ref.attr not in wf.inputs:
            p.add(
                path,
                f"inputs.{ref.attr} is not a declared input{suggest(ref.attr, wf.inputs)}",
                fix=f"declare it under inputs: (declared: {', '.join(wf.inputs) or 'none'})",
            )
        elif ref.name == "steps" and ref.attr is not None:
            if ref.attr not in wf.steps:
                p.add(
                    path,
                    f"steps.{ref.attr} is not a step{suggest(ref.attr, wf.steps)}",
                    fix=f"steps: {', '.join(wf.steps)}",
                )
            elif upstream is not None and ref.attr not in upstream:
                if path[0] == "agents":
                    p.add(
                        path,
                        f"reads steps.{ref.attr}: agent instructions can read only inputs",
                        fix="move the step's output into the prompt of the steps that use it",
                    )
                else:
                    p.add(
                        path,
                        f"reads steps.{ref.attr}, which is not upstream of this step",
                        fix=f"add '{ref.attr}' to this step's needs",
                    )


def _check_handlers(wf: Workflow, p: _Problems) -> None:
    """on_failure names a step that exists, runs only as a handler, and is needed by no one."""
    named = [(("steps", sid, "on_failure"), s.on_failure) for sid, s in wf.steps.items() if s.on_failure]
    if wf.on_failure:
        named.append((("on_failure",), wf.on_failure))
    for path, name in named:
        if name not in wf.steps:
            p.add(path, f"'{name}' is not a step{suggest(name, wf.steps)}", fix="name a step under steps:")
        elif path[:2] == ("steps", name):
            p.add(path, f"step '{name}' cannot handle its own failure", fix="name another step")
    handlers = wf.handlers
    for sid, step in wf.steps.items():
        for i, need in enumerate(step.needs):
            if need in handlers:
                p.add(
                    ("steps", sid, "needs", i),
                    f"'{need}' is an on_failure step, which runs only when a step fails",
                    fix="read its result in a later on_failure step, or make it an ordinary step",
                )
        if sid in handlers and step.needs:
            p.add(
                ("steps", sid, "needs"),
                "an on_failure step runs when a step fails; it takes no needs",
                fix="remove needs: (it can read `failure` and the outputs of finished steps)",
            )
        if step.recover and sid not in handlers:
            p.add(("steps", sid, "recover"), "recover: applies to on_failure steps only")


def _check_steps(wf: Workflow, p: _Problems) -> Graph | None:
    if not wf.steps:
        p.add(("steps",), "the workflow has no steps", fix="add at least one step under steps:")
        return None
    for sid, step in wf.steps.items():
        if step.agent is None and step.approval is None:
            p.add(
                ("steps", sid),
                "a step needs an agent: (or an approval:)",
                fix=f"add agent: <one of {', '.join(wf.agents) or 'the agents you declare'}>",
            )
        elif step.agent is not None and step.approval is not None:
            p.add(
                ("steps", sid, "approval"),
                "a step is either an agent call or an approval, not both",
                fix="split it into two steps, the second needing the first",
            )
        elif step.agent is not None and step.agent not in wf.agents:
            p.add(
                ("steps", sid, "agent"),
                f"'{step.agent}' is not an agent{suggest(step.agent, wf.agents)}",
                fix=f"declare it under agents: (declared: {', '.join(wf.agents) or 'none'})",
            )
        if step.approval is not None and step.foreach is not None:
            p.add(("steps", sid, "foreach"), "an approval step cannot fan out", fix="remove foreach:")
    _check_handlers(wf, p)
    graph = Graph.of(wf.steps)
    for sid, name in graph.unknown_needs():
        index = wf.steps[sid].needs.index(name)
        p.add(
            ("steps", sid, "needs", index),
            f"needs '{name}', which is not a step{suggest(name, wf.steps)}",
            fix=f"steps: {', '.join(wf.steps)}",
        )
    for sid, step in wf.steps.items():
        if sid in step.needs:
            p.add(("steps", sid, "needs"), f"step '{sid}' needs itself", fix="remove it from needs")
    cycle = graph.find_cycle()
    if cycle is not None and len(cycle) > 2:
        p.add(
            ("steps", cycle[0], "needs"),
            f"the steps form a cycle: {' → '.join(cycle)}",
            fix="remove one of these needs so that the graph has no loop",
        )
    if cycle is not None or graph.unknown_needs():
        return None
    return graph


def _check_templates(wf: Workflow, graph: Graph | None, p: _Problems) -> None:
    handlers = wf.handlers
    for sid, step in wf.steps.items():
        # None: the graph is broken. Lazy: most templates read no step, and computing every
        # step's upstream set would make loading a long chain quadratic.
        up = _Upstream(graph, sid, step.needs) if graph is not None else None
        extra: tuple[str, ...] = ("item", "index") if step.foreach is not None else ()
        if sid in handlers:
            up, extra = None, ("failure",)  # a handler may read any step, and the failure
        _check_template(step.prompt, ("steps", sid, "prompt"), wf, up, extra, p)
        if step.approval is not None:
            _check_template(step.approval.message, ("steps", sid, "approval", "message"), wf, up, extra, p)
        _check_template(step.when, ("steps", sid, "when"), wf, up, extra, p)
        _check_template(step.foreach, ("steps", sid, "foreach"), wf, up, (), p)
        if isinstance(step.foreach, str) and templates.single_expression(step.foreach) is None:
            p.add(
                ("steps", sid, "foreach"),
                "foreach must be a list or a single {{ expression }} giving a list",
                fix='write e.g. foreach: "{{ steps.plan.output.topics }}"',
            )
    for name, source in wf.outputs.items():
        _check_template(source, ("outputs", name), wf, None, (), p)
    agents = wf.agents
    for aname, agent in agents.items():
        if agent.instructions:
            _check_template(agent.instructions, ("agents", aname, "instructions"), wf, set(), (), p)


def _check_inputs(wf: Workflow, p: _Problems) -> None:
    for name, spec in wf.inputs.items():
        if spec.default is not None:
            try:
                coerce_input(name, spec, spec.default)
            except InputError as exc:
                p.add(("inputs", name, "default"), exc.message, fix=exc.fix)


def _check_mock(wf: Workflow, p: _Problems) -> None:
    names = [*wf.steps, *wf.agents]
    for key in wf.mock:
        if key not in wf.steps and key not in wf.agents:
            p.add(
                ("mock", key),
                f"'{key}' is neither a step nor an agent{suggest(key, names)}",
                fix="key mock replies by step id or by agent name",
            )


# --- entry points ---------------------------------------------------------------------------


def parse(
    text: str,
    *,
    file: str = "<workflow>",
    base_dir: Path | None = None,
    providers: Collection[str] | None = None,
    provider_configs: Mapping[str, type[BaseModel]] | None = None,
    check_functions: bool = True,
) -> Workflow:
    """Parse and check a workflow's YAML text; raise WorkflowError listing every problem found."""
    data, positions = _parse_yaml(text, file)
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
    if "steps" in data and data["steps"] is None:
        data["steps"] = {}
    try:
        wf = Workflow.model_validate(data)
    except ValidationError as exc:
        _pydantic_problems(exc, problems)
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
    graph = _check_steps(wf, problems)
    _check_templates(wf, graph, problems)
    _check_outputs(wf, problems)
    _check_inputs(wf, problems)
    _check_mock(wf, problems)
    if check_functions:
        _check_agents(wf, base, problems)
    problems.raise_if_any()
    return wf


def load(
    path: str | Path,
    *,
    providers: Collection[str] | None = None,
    provider_configs: Mapping[str, type[BaseModel]] | None = None,
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
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WorkflowError([Problem(str(path), "", "not UTF-8 text")]) from None
    wf = parse(
        text,
        file=str(path),
        base_dir=file.resolve().parent,
        providers=providers,
        provider_configs=provider_configs,
    )
    wf._path = file.resolve()
    wf._file_hash = hashlib.sha256(raw).hexdigest()
    return wf


# --- run inputs -----------------------------------------------------------------------------

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def coerce_input(name: str, spec: Input, value: Any) -> Any:
    """Check (and, for text from the command line, convert) one input value against its type."""
    kind = spec.type
    if isinstance(value, str) and kind != "string":
        text = value.strip()
        try:
            if kind == "integer":
                value = int(text)
            elif kind == "number":
                value = float(text) if any(c in text for c in ".eE") else int(text)
            elif kind == "boolean":
                if text.lower() not in _TRUE | _FALSE:
                    raise ValueError(text)
                value = text.lower() in _TRUE
            elif kind in ("object", "array"):
                value = json.loads(text)
        except ValueError:
            raise InputError(
                f"input '{name}' must be {kind}, got {value!r}",
                fix=f"pass -i {name}=<{kind}>" + (" as JSON" if kind in ("object", "array") else ""),
            ) from None
    ok = isinstance(value, INPUT_TYPES[kind]) and not (
        kind in ("integer", "number") and isinstance(value, bool)
    )
    if not ok:
        raise InputError(
            f"input '{name}' must be {kind}, got {type(value).__name__} {value!r}",
            fix=f"give '{name}' a {kind} value",
        )
    if spec.enum is not None and value not in spec.enum:
        raise InputError(
            f"input '{name}' must be one of {spec.enum}, got {value!r}",
            fix=f"pick one of: {', '.join(map(str, spec.enum))}",
        )
    return value


def resolve_inputs(wf: Workflow, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's inputs: given values checked and converted, defaults filled in, unknowns refused."""
    unknown = [k for k in given if k not in wf.inputs]
    if unknown:
        key = unknown[0]
        raise InputError(
            f"'{key}' is not an input of workflow '{wf.name}'{suggest(key, wf.inputs)}",
            fix=f"inputs of this workflow: {', '.join(wf.inputs) or 'none'}",
        )
    out: dict[str, Any] = {}
    for name, spec in wf.inputs.items():
        if name in given:
            out[name] = coerce_input(name, spec, given[name])
        elif not spec.required:
            out[name] = spec.default
        else:
            raise InputError(
                f"missing required input '{name}' ({spec.type})",
                fix=f"pass -i {name}=VALUE, or give it a default in the workflow file",
            )
    return out
