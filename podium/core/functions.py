"""Finds a user's `module:function`: next to the workflow file first, then on the Python path."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any


@contextmanager
def _path_first(directory: Path) -> Iterator[None]:
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        with suppress(ValueError):
            sys.path.remove(str(directory))


def import_function(reference: str, base_dir: Path) -> Callable[..., Any]:
    """Import `module:function`, looking next to the workflow file first, then on sys.path."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ValueError(f"'{reference}' is not of the form module:function")
    top = module_name.split(".")[0]
    local = (base_dir / top).is_dir() or (base_dir / f"{top}.py").is_file()
    if local:
        loaded = sys.modules.get(top)
        origin = getattr(loaded, "__file__", None) or ""
        if loaded is not None and not Path(origin).resolve().is_relative_to(base_dir.resolve()):
            # a module of the same name from elsewhere is loaded; the workflow's own one wins
            for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
                del sys.modules[name]
        with _path_first(base_dir):
            module = importlib.import_module(module_name)
    else:
        module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"'{reference}' is not callable")
    return obj
