"""An output schema's regular expressions, matched within a time bound: no reply can hang its run.

jsonschema matches `pattern` and `patternProperties` with Python's `re`, which backtracks without
limit while holding the GIL: `^([a-z ]+,?)+$` against a sixty-character reply that ends in a digit
runs for minutes with the event loop stopped, so neither the step's timeout nor a cancel can end
it. Here those keywords match with the `regex` module (the same syntax, and a timeout), sharing
`PATTERN_SECONDS` per validation. A reply whose matching takes longer is refused
(`PatternTooSlow`), saying which pattern was too slow, and the step fails like any invalid reply.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jsonschema import ValidationError
from jsonschema import _keywords as upstream  # the keywords replaced below, kept for the rest of their work

PATTERN_SECONDS = 1.0

_deadline: ContextVar[float | None] = ContextVar("podium_pattern_deadline", default=None)


class PatternTooSlow(ValidationError):
    """Matching a schema's pattern took longer than `PATTERN_SECONDS`: the pattern backtracks."""


def _search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches in `text`; PatternTooSlow past the validation's time."""
    import regex

    deadline = _deadline.get()
    left = PATTERN_SECONDS if deadline is None else deadline - time.monotonic()
    try:
        compiled = _compile(pattern)
    except regex.error:  # a pattern only `re` reads (none known): matched as jsonschema would
        return re.search(pattern, text) is not None
    if left <= 0:
        raise _too_slow(text, pattern)
    try:
        return compiled.search(text, timeout=left) is not None
    except TimeoutError:
        raise _too_slow(text, pattern) from None


@lru_cache(maxsize=256)
def _compile(pattern: str) -> Any:
    import regex

    return regex.compile(pattern)


def _too_slow(instance: str, pattern: str) -> PatternTooSlow:
    shown = instance if len(instance) <= 60 else instance[:57] + "..."
    return PatternTooSlow(
        f"{shown!r} took longer than {PATTERN_SECONDS:g}s to match {pattern!r}"
        " (the pattern backtracks: a repetition inside a repetition)"
    )


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        found = _search(pattern, instance)
    except PatternTooSlow as slow:
        yield slow
        return
    if not found:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            try:
                found = _search(pattern, key)
            except PatternTooSlow as slow:
                yield slow
                return
            if found:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    patterns = schema.get("patternProperties")
    if not patterns or not validator.is_type(instance, "object"):
        yield from upstream.additionalProperties(validator, additional, instance, schema)
        return
    # the keys neither `properties` nor a pattern names: jsonschema's own rule, matched here
    joined = "|".join(patterns)
    known = schema.get("properties", {})
    extras: list[str] = []
    for key in instance:
        if key in known:
            continue
        try:
            if _search(joined, key):
                continue
        except PatternTooSlow as slow:
            yield slow
            return
        extras.append(key)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        verb = "does" if len(extras) == 1 else "do"
        names = ", ".join(repr(each) for each in sorted(extras))
        yield ValidationError(
            f"{names} {verb} not match any of the regexes: {', '.join(map(repr, sorted(patterns)))}"
        )


@lru_cache(maxsize=16)
def bounded(validator_class: Any) -> Any:
    """`validator_class` with its pattern keywords matched within the time bound."""
    from jsonschema.validators import extend

    replaced = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    }
    return extend(validator_class, {k: v for k, v in replaced.items() if k in validator_class.VALIDATORS})


def validate(validator: Any, value: Any) -> None:
    """`validator.validate(value)`, every pattern of it matched within `PATTERN_SECONDS` in all."""
    token = _deadline.set(time.monotonic() + PATTERN_SECONDS)
    try:
        validator.validate(value)
    finally:
        _deadline.reset(token)
