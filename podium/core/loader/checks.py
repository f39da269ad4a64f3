"""The checks of a workflow's meaning: steps and their graph, templates, outputs, inputs, mocks, functions."""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from podium.core import templates
from podium.core.errors import InputError
from podium.core.functions import NotAFunction, find_function
from podium.core.graph import Graph
from podium.core.loader.inputs import coerce_input
from podium.core.loader.positions import Path_, dotted
from podium.core.loader.problems import _Problems, suggest
from podium.core.spec import BUILTIN_OUTPUT_TYPES, Workflow


def _check_import(reference: str, path: Path_, base_dir: Path, p: _Problems) -> None:
    # read, never imported: loading a workflow (and `validate`) runs none of its code
    try:
        find_function(reference, base_dir)
    except ValueError as exc:
        p.add(path, str(exc), fix="write it as package.module:function")
    except AttributeError as exc:  # the module is there; the name in it is not
        module, _, name = reference.partition(":")
        p.add(
            path,
            f"cannot load '{reference}': {type(exc).__name__}: {exc}",
            fix=f"define {name} in {module}, or name a function it has",
        )
    except SyntaxError as exc:
        p.add(path, f"cannot load '{reference}': SyntaxError: {exc}", fix="fix the module's syntax there")
    except NotAFunction as exc:
        p.add(path, f"cannot load '{reference}': {exc}", fix="name a function (def …) of the module")
    except (ImportError, TypeError) as exc:
        p.add(
            path,
            f"cannot load '{reference}': {type(exc).__name__}: {exc}",
            fix=f"put the module next to the workflow file ({base_dir}) or on the Python path",
        )


def _check_agents(wf: Workflow, base_dir: Path, p: _Problems) -> None:
    for aname, agent in wf.agents.items():
        for tool, reference in agent.tool_functions.items():
            # the tool's own line, in either form (name: module:function, or name: {function: …})
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


def _own_ref_problems(wf: Workflow, resolvable: dict[Path_, Any], local: Any) -> dict[Path_, str | None]:
    """Each schema's first unresolvable $ref of its own, by path.

    Every type rides along as `$defs` of the other types and of each step's schema, and a schema's
    resolution stops at its first problem: a broken type would both be reported at every schema
    and hide their own problems. So a problem found in a carried type is not reported there; the
    broken types are stubbed out ({}) and those schemas resolved again, until each is settled.
    """
    from podium.core.schemas import resolve_refs

    settled: dict[Path_, str | None] = {}
    broken: set[str] = set()
    todo = dict(resolvable)
    while todo:
        found = resolve_refs({dotted(k): v for k, v in todo.items()}, local)
        before = set(broken)
        again: dict[Path_, str] = {}
        for path_ in todo:
            problem = found.get(dotted(path_))
            if problem is None or _own_ref(problem, _written(wf, path_)):
                settled[path_] = problem
                if problem is not None and path_[0] == "types":
                    broken.add(str(path_[1]))
            else:
                again[path_] = problem
        if broken == before:
            # no type newly known broken: what is left is not a carried type's (a ref in a file
            # the schema reads, say), and stands as found
            settled.update(again)
            break
        stubbed = {name: ({} if name in broken else schema) for name, schema in wf.types.items()}
        todo = {}
        for path_ in again:
            written = _written(wf, path_)
            todo[path_] = written if "$defs" in written else {"$defs": stubbed, **written}
    return settled


def _written(wf: Workflow, path_: Path_) -> Any:
    """The schema as the user wrote it at `path_` (a type, or a step's output schema)."""
    if path_[0] == "types":
        return dict(wf.types[str(path_[1])])
    out = wf.steps[str(path_[1])].output
    return dict(out.schema_) if out is not None and out.schema_ is not None else {}


def _own_ref(problem: str, written: Any) -> bool:
    """Whether the $ref a problem is about is written in this schema (not only in a type it carries)."""
    import json

    quoted = re.match(r"\$ref ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")", problem)
    if quoted is None:
        return True
    ref = quoted.group(1)[1:-1]
    return json.dumps(ref)[1:-1] in json.dumps(written)


def _check_outputs(wf: Workflow, base_dir: Path, p: _Problems) -> None:
    from podium.core.schemas import LocalSchemas

    checked = len(p.items)
    resolvable: dict[Path_, Any] = {}
    for tname, schema in wf.types.items():
        _check_schema(schema, ("types", tname), p)
        if isinstance(schema, dict):  # a type may name the others as #/$defs/NAME, as steps do
            resolvable[("types", tname)] = {"$defs": wf.types, **schema}
    for sid, step in wf.steps.items():
        out = step.output
        if out is None:
            continue
        path = ("steps", sid, "output")
        if out.schema_ is not None and out.type is not None:
            p.add(path, "give either schema or type, not both", fix="remove one of them")
        elif out.schema_ is not None:
            _check_schema(out.schema_, (*path, "schema"), p)
            resolvable[(*path, "schema")] = wf.output_schema(step)
        elif out.type is not None and out.type not in wf.types and out.type not in BUILTIN_OUTPUT_TYPES:
            names = [*BUILTIN_OUTPUT_TYPES, *wf.types]
            p.add(
                (*path, "type"),
                f"unknown type '{out.type}'{suggest(out.type, names)}",
                fix=f"use one of {', '.join(names)}, or declare it under types:",
            )
    if len(p.items) > checked:
        return  # an invalid schema is reported as such; its refs are not worth resolving
    local = LocalSchemas(base_dir)
    for path_, problem in _own_ref_problems(wf, resolvable, local).items():
        if problem is not None:
            p.add(
                path_,
                problem,
                fix="refer to a part of the schema itself (#/$defs/…), or to a .json or .yaml file"
                " next to the workflow, by its relative name",
            )
    wf._schemas = local


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
            fix=templates.syntax_fix(error),
        )
        return
    for name in templates.private_reads(source):
        p.add(
            path,
            f"reads '{name}': a template may not read Python's own attributes",
            fix="read the values a template is given (inputs, steps.ID.output, item) and their fields",
        )
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
                        fix=_not_upstream_fix(ref.attr, upstream),
                    )


def _not_upstream_fix(name: str, upstream: Collection[str] | _Upstream) -> str:
    # adding a step that runs later (or the step itself) to needs would make a cycle: say so instead
    if isinstance(upstream, _Upstream):
        if name == upstream.step:
            return "a step cannot read its own output: read it in a later step that needs this one"
        if upstream.step in upstream.graph.upstream(name):
            return (
                f"'{name}' runs after this step (it needs it): read steps.{name} in a step"
                f" that needs '{name}', or remove the read"
            )
    return f"add '{name}' to this step's needs"


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
                # the file's own default, not a -i value: the fix is in the file
                kind = f"{'an' if spec.type[0] in 'aeiou' else 'a'} {spec.type}"
                fix = exc.fix if spec.enum is not None else f"write {kind} default, or change type:"
                p.add(("inputs", name, "default"), exc.message, fix=fix)


def _check_mock(wf: Workflow, p: _Problems) -> None:
    names = [*wf.steps, *wf.agents]
    for key in wf.mock:
        if key not in wf.steps and key not in wf.agents:
            p.add(
                ("mock", key),
                f"'{key}' is neither a step nor an agent{suggest(key, names)}",
                fix="key mock replies by step id or by agent name",
            )
            continue
        _check_mock_tools(wf, key, p)


def _check_mock_tools(wf: Workflow, key: str, p: _Problems) -> None:
    # a scripted tool request for a tool the agent does not declare fails its step at the call
    step = wf.steps.get(key)
    aname = step.agent if step is not None else key
    agent = wf.agents.get(aname) if aname is not None else None
    if agent is None:
        return
    entry = wf.mock[key]
    replies = entry if isinstance(entry, list) else [entry]
    for i, reply in enumerate(replies):
        tool = getattr(reply, "tool", None)
        if tool is None or tool.name in agent.tools:
            continue
        at = ("mock", key, *([i] if isinstance(entry, list) else []), "tool", "name")
        p.add(
            at,
            f"asks for the tool '{tool.name}', which agents.{aname}.tools does not declare"
            f"{suggest(tool.name, agent.tools)}",
            fix=f"declare it under agents.{aname}.tools ({tool.name}: module:function), or name one"
            f" it declares ({', '.join(agent.tools) or 'none'})",
        )
