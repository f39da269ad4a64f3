"""Prompt templates in Jinja2's sandbox: rendering, single-value expressions, reference checks."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from podium.core import render_budget
from podium.core.errors import TemplateError

# "{{ expr }}" and nothing else: such a template yields the value itself, not its text.
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


def _tojson(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _finalize(value: Any) -> Any:
    # Objects and lists interpolated into a prompt read as JSON, which is what an agent expects.
    if isinstance(value, dict | list):
        return _tojson(value)
    return value


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with `a ~ b` joined by the budget's `bounded_join`."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, spending within the render budget (see `render_budget`)."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    bounded_join = staticmethod(render_budget.bounded_join)
    concat = staticmethod(render_budget.bounded_join)  # a block's, a macro's and a filter block's output

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):  # each loop's items pass the budget's clock
            loop.iter = nodes.Filter(loop.iter, "podium_budget_iter", [], [], None, None, lineno=loop.lineno)
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        render_budget.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # A workflow's values are mappings whose keys are the user's words: `inputs.items` or
        # `steps.plan.output.values` means that key, not the dict's method (Jinja tries the method
        # first, and a foreach over it failed with "gave builtin_function_or_method").
        if isinstance(obj, Mapping) and isinstance(attribute, str) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        args = render_budget.check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    """The one sandboxed environment podium renders with (undefined names are errors)."""
    env = _BoundedSandbox(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize
    )
    env.filters["tojson"] = _tojson
    env.filters["json"] = _tojson
    env.filters = {name: render_budget.guard_filter(name, fn) for name, fn in env.filters.items()}
    env.filters["podium_budget_iter"] = render_budget.budget_iter
    env.globals.pop("lipsum", None)  # paragraphs of filler on demand: nothing a prompt needs
    return env


@dataclass(frozen=True, slots=True)
class Reference:
    """A name a template reads: a top-level variable and, where static, its first attribute."""

    name: str
    attr: str | None


def single_expression(source: str) -> str | None:
    match = _SINGLE.match(source)
    if match is None:
        return None
    expr = match.group("expr")
    if "{{" in expr or "}}" in expr or "{%" in expr or "{#" in expr:
        return None
    return expr


# jinja parses and compiles by recursion, several frames per level: brackets, `not`s, unary signs,
# operators or filters nested a hundred deep exhaust Python's stack, said as a syntax error
_TOO_DEEP = "the template nests too deeply (brackets, operators, filters or attributes inside each other)"


@lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    env = environment()
    expr = single_expression(source)
    try:
        if expr is not None:
            return env.compile_expression(expr, undefined_to_none=False)
        return env.from_string(source)
    except RecursionError:
        raise TemplateSyntaxError(_TOO_DEEP, 1) from None


def check_syntax(source: str) -> str | None:
    """Return a syntax error's message, or None when the template parses."""
    try:
        _compiled(source)
    except TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    return None


_UNKNOWN = re.compile(r"No (filter|test) named '([^']+)'")


def syntax_fix(error: str) -> str:
    """The fix for a template syntax error: the names that exist for an unknown filter or test,
    else how to close a tag or write a literal brace."""
    if _TOO_DEEP in error:
        return "nest less: split the expression over steps, or compute the value in a python function agent"
    if (unknown := _UNKNOWN.search(error)) is not None:
        kind, name = unknown.groups()
        names = sorted(environment().filters if kind == "filter" else environment().tests)
        names = [n for n in names if not n.startswith("podium_")]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{hint}{kind}s: {', '.join(names)}"
    return "close each {{ }} and {% %}; write a literal brace as {{ '{{' }}"


@lru_cache(maxsize=1024)
def _tree(source: str) -> nodes.Template:
    """The template's parse tree, made once for the load's checks that walk it (read, never changed)."""
    expr = single_expression(source)
    try:
        return environment().parse(f"{{{{ {expr} }}}}" if expr is not None else source)
    except RecursionError:
        raise TemplateSyntaxError(_TOO_DEEP, 1) from None


def references(source: str) -> Iterator[Reference]:
    """Every variable the template reads, with the static attribute after it when there is one.

    `{{ steps.facts.output }}` and `{{ steps['facts'].output }}` both give Reference('steps', 'facts').
    """
    tree = _tree(source)
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    # a macro's own name, and `caller` inside a {% call %}'s macro, are defined by the template
    assigned |= {m.name for m in tree.find_all(nodes.Macro)}
    if any(True for _ in tree.find_all(nodes.CallBlock)):
        assigned.add("caller")
    seen_as_attr: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if isinstance(target, nodes.Name) and target.ctx == "load" and target.name not in assigned:
            if isinstance(node, nodes.Getattr):
                attr: str | None = node.attr
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                attr = node.arg.value
            else:
                attr = None
            seen_as_attr.add(id(target))
            yield Reference(target.name, attr)
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and id(name) not in seen_as_attr and name.name not in assigned:
            yield Reference(name.name, None)


def _constant(source: str) -> bool:
    """Text with no jinja markup renders to itself, so a prompt with a JSON example in it is not
    compiled and rendered per call (jinja turns CR LF into LF: such text still goes through it)."""
    return "{{" not in source and "{%" not in source and "{#" not in source and "\r" not in source


# the dunder attributes of the values a template can reach (every object, types, functions and
# their code): what a sandbox escape reads, and what the sandbox refuses on any value
_PYTHONS_OWN = frozenset(
    name
    for kind in (
        object,
        type,
        dict,
        list,
        str,
        int,
        float,
        type(len),
        type(lambda: 0),
        type((lambda: 0).__code__),
    )
    for name in dir(kind)
    if name.startswith("__")
)


def private_reads(source: str) -> list[str]:
    """The attributes the template reads that the sandbox refuses at render, said at load instead:
    Python's own (`x.__class__`, `x['__globals__']`). (`output._id` or `output['__meta__']` is
    fine: a mapping's key of a name no value has as an attribute is read as an item.)"""
    tree = _tree(source)
    found: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            name: Any = node.attr
        else:
            name = node.arg.value if isinstance(node.arg, nodes.Const) else None
        if isinstance(name, str) and name in _PYTHONS_OWN and name not in found:
            found.append(name)
    return found


def render(source: Any, context: Mapping[str, Any], *, where: str, timeout: float | None = None) -> Any:
    """Render a template against `context`; a lone `{{ expr }}` yields its value, not its text.

    Non-string values (a `foreach: [a, b]` list, `when: true`) are returned unchanged. `where`
    names the field in errors ("steps.draft.prompt"). The render runs within the render budget
    (`render_budget`: a second, ten million characters), and within `timeout` seconds when that
    is shorter (the step's own timeout); past either, it is a TemplateError.
    """
    if not isinstance(source, str):
        return source
    if "{" not in source or _constant(source):
        return source
    try:
        compiled = _compiled(source)
        if single_expression(source) is not None:
            value = render_budget.within_budget(lambda: _settled(compiled(**context)), seconds=timeout)
            if isinstance(value, StrictUndefined):
                str(value)  # raises UndefinedError with jinja's own message
            return value
        return render_budget.within_budget(
            lambda: render_budget.count_output(compiled.generate(**context)), seconds=timeout
        )
    except render_budget.BudgetExceeded as exc:
        raise TemplateError(
            f"{where}: {exc}",
            fix="render less: loop over fewer items, or leave large values out of the prompt",
        ) from None
    except UndefinedError as exc:
        raise TemplateError(
            f"{where}: {exc.message}",
            fix="refer only to declared inputs, to steps listed (directly or indirectly) in needs,"
            " and to `item`/`index` inside a foreach step",
        ) from None
    except SecurityError as exc:
        raise TemplateError(f"{where}: not allowed in a template: {exc}") from None
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{where}: template syntax error: {exc.message}") from None
    except Exception as exc:  # an error inside the expression (1/0, a bad filter argument)
        raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from None


def _settled(value: Any) -> Any:
    """A lone expression's value as data: jinja's range() and its map/select/reject/batch filters
    give lazy sequences, which a foreach would refuse, a `when:` would find true even when empty,
    and the run could not store; here, within the render's budget, they become lists."""
    if isinstance(value, range | Iterator):
        return list(value)
    return value


def truthy(value: Any) -> bool:
    """How a rendered `when:` decides: text 'false', 'no', '0', '' and 'none' are false too."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "0", "none", "null")
    return bool(value)
