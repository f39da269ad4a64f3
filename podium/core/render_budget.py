"""The render budget: a template renders within a time and a size, or fails with a clear error.

Jinja2's sandbox stops a template from reaching what it must not (`__class__`, `range(10**9)`),
but not from spending: two nested `range(100000)` loops run for hours, and `'x' | center(10**9)`
allocates a gigabyte in one call. Rendering stays synchronous, on the event loop: a prompt renders
in microseconds, a worker thread per render would cost more than the render, and a thread cannot be
stopped from outside, so it would need these same checks to end. The budget is enforced from inside
the render, by the sandbox's own hooks, so the loop is blocked about as long as the budget at most:

- time: the deadline is checked at every iteration of a `{% for %}` (every 256th: the loop's
  iterable is wrapped by `budget_iter`), every call a template makes (a method, a global, a macro,
  so a macro calling itself too), every filter, every intercepted operator and every chunk of
  output. (A trace function did the same at every line, at three to seven times the render's cost.)
  One C-level operation on a value at the size limit (sorting ten million items) is not
  interrupted: it takes seconds at most.
- size: every operation that can make a large value in one step is checked before it runs: `*`,
  `**`, `+` and `%` (Jinja's intercepted operators), `~` (a compiled hook), joining a block's
  output, integer arguments of calls and filters (`center(10**9)`), and the filters and methods
  that multiply (`replace`, `join`, `indent`, `wordwrap`). The output is counted as it is made.

Both raise `BudgetExceeded`, a BaseException, so no `except Exception` in a filter swallows it;
`templates.render` turns it into a TemplateError, which fails the step.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# Defaults generous for any real prompt (a 10 MB prompt is past every model's context window) and
# small for a machine: the event loop is blocked at most this long by one render.
RENDER_SECONDS = 1.0
RENDER_CHARS = 10_000_000
# A power whose result needs more bits than this is refused before Python computes it.
MAX_POWER_BITS = 100_000
# a width or precision in a %-format or a {:…} format spec, large enough to make a huge string
_WIDE_PERCENT = re.compile(r"%[-#0 +]*(?:\d{8,}|\*)|%[-#0 +]*\d*\.(?:\d{8,}|\*)")
_WIDE_BRACE = re.compile(r"\{[^{}]*:[^{}]*\d{8,}[^{}]*\}")


class BudgetExceeded(BaseException):
    """A render went past its time or size budget; the message says which."""


class _NotNow(Exception):
    """A filter called outside a render: Jinja folding a constant as it compiles gives it up."""


@dataclass(slots=True)
class _Budget:
    deadline: float
    seconds: float
    chars: int


_active = threading.local()


def _budget() -> _Budget | None:
    return getattr(_active, "budget", None)


def _check_time() -> None:
    budget = _budget()
    if budget is not None and time.monotonic() > budget.deadline:
        raise BudgetExceeded(f"rendering took longer than {budget.seconds:g}s")


def _limit() -> int:
    budget = _budget()
    return budget.chars if budget is not None else RENDER_CHARS


def check_size(size: int, what: str = "a value") -> None:
    """Refuse making `what` of `size` characters (or items) when that is past the budget."""
    limit = _limit()
    if size > limit:
        raise BudgetExceeded(f"{what} of {size:,} characters would pass the {limit:,} the template may make")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict | set | frozenset) else 0


def _check_ints(values: Iterable[Any], what: str) -> None:
    limit = _limit()
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limit:
            raise BudgetExceeded(f"{what} {value:,} is past the {limit:,} a template may make")


def _check_format(fmt: Any) -> None:
    if isinstance(fmt, str) and (_WIDE_PERCENT.search(fmt) or _WIDE_BRACE.search(fmt)):
        raise BudgetExceeded("a format with a width or precision this large would pass the budget")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Before `left OPERATOR right` runs: refuse it if the result would pass the budget."""
    _check_time()
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if _size(seq) and isinstance(times, int):
                check_size(_size(seq) * max(times, 0), "repeating")
    elif operator == "+":
        if _size(left) and _size(right):
            check_size(_size(left) + _size(right), "joining")
    elif operator == "**":
        ints = isinstance(left, int) and isinstance(right, int)
        if ints and right > 0 and abs(left) > 1 and right * abs(left).bit_length() > MAX_POWER_BITS:
            raise BudgetExceeded(f"a power of {MAX_POWER_BITS:,} bits or more is past the budget")
    elif operator == "%" and isinstance(left, str):
        _check_format(left)
        _check_ints(right if isinstance(right, tuple) else (right,), "a format argument")


def bounded_join(parts: Iterable[Any]) -> str:
    """`a ~ b ~ c` and a block's output joined, refused past the budget before it is made."""
    _check_time()
    texts = [part if isinstance(part, str) else str(part) for part in parts]
    check_size(sum(map(len, texts)), "joined text")
    return "".join(texts)


def _estimate(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[int, Any]:
    """The size a multiplying filter or method would make, and the value (a generator listed)."""
    if name == "replace" and isinstance(value, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = value.count(old) if old else len(value) + 1
        return len(value) + count * max(len(new) - len(old), 0), value
    if name == "join":
        items = value if isinstance(value, list | tuple) else list(value)
        sep = args[0] if args else kwargs.get("d", "")
        texts = sum(len(x) for x in items if isinstance(x, str))
        return texts + len(str(sep)) * max(len(items) - 1, 0), items
    if name == "indent" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 4)
        unit = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        return len(value) + (value.count("\n") + 1) * unit, value
    if name == "wordwrap" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 79)
        wrap = kwargs.get("wrapstring") or (args[2] if len(args) > 2 else None) or "\n"
        lines = len(value) // max(width if isinstance(width, int) else 79, 1) + 1
        return len(value) + lines * len(str(wrap)), value
    if name == "expandtabs" and isinstance(value, str):
        tab = args[0] if args else kwargs.get("tabsize", 8)
        return len(value) + value.count("\t") * (tab if isinstance(tab, int) else 8), value
    return 0, value


def guard_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the budget before it runs (its int arguments, what it would make)."""
    skip = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _budget() is None:  # Jinja folding constants as it compiles: leave it to the render
            raise _NotNow
        _check_time()
        if len(args) > skip:
            value, rest = args[skip], args[skip + 1 :]
            _check_ints((*rest, *kwargs.values()), f"the {name} filter's argument")
            if name == "format":
                _check_format(value)
            size, value = _estimate(name, value, rest, kwargs)
            check_size(size, f"the {name} filter's result")
            args = (*args[:skip], value, *rest)
        return fn(*args, **kwargs)

    guarded.__name__ = getattr(fn, "__name__", name)
    guarded.__doc__ = fn.__doc__
    guarded.__dict__.update(getattr(fn, "__dict__", {}))  # keeps jinja_pass_arg
    return guarded


def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Before a template calls `obj` (a method, a global, a macro): the budget's checks; the
    arguments to call it with (a generator to join, listed)."""
    _check_time()
    called = getattr(obj, "__name__", "a call")
    _check_ints((*args, *kwargs.values()), f"{'range' if called == 'safe_range' else called}()'s argument")
    # the sandbox hands `'…'.format` over wrapped in its own safe formatter
    owner = getattr(getattr(obj, "__wrapped__", obj), "__self__", None)
    if isinstance(owner, str):
        name = getattr(obj, "__name__", "")
        if name in ("format", "format_map"):
            _check_format(owner)
        elif name == "join" and args:
            size, items = _estimate("join", args[0], (owner,), {})
            check_size(size, "joined text")
            args = (items, *args[1:])
        else:
            size, _ = _estimate(name, owner, args, kwargs)
            check_size(size, f"str.{name}'s result")
    return args


def count_output(chunks: Iterable[str]) -> str:
    """A template's output, counted as it is made: refused once it passes the budget."""
    limit = _limit()
    out: list[str] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        _check_time()
        if total > limit:
            raise BudgetExceeded(f"the output passed the {limit:,} characters a template may make")
        out.append(chunk)
    return "".join(out)


def budget_iter(value: Any) -> Iterator[Any]:
    """What a `{% for %}` loops over: the same items, the clock checked every 256 of them."""
    _check_time()
    for i, item in enumerate(value):
        if not i & 255:
            _check_time()
        yield item


def within_budget(work: Callable[[], Any], *, seconds: float | None = None) -> Any:
    """Run `work` (a render) under the budget: `seconds` (at most RENDER_SECONDS) and RENDER_CHARS."""
    limit = RENDER_SECONDS if seconds is None else min(seconds, RENDER_SECONDS)
    outer = _budget()
    if outer is not None:  # a render inside a render (a template's filter rendering): one budget
        return work()
    _active.budget = _Budget(time.monotonic() + limit, limit, RENDER_CHARS)
    try:
        return work()
    finally:
        _active.budget = None
