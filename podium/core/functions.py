"""Finds a user's `module:function`: next to the workflow file first, then on the Python path.

A module next to the workflow is imported under a private name (one per workflow folder), so that a
`json.py` there is the workflow's own `json` and never the `json` the rest of the process imports.
`find_function` checks that a reference can be loaded by reading the source, running nothing:
what `validate` does. `import_function` imports it: what a run does.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any


def _split(reference: str) -> tuple[str, str]:
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ValueError(f"'{reference}' is not of the form module:function")
    return module_name, attr


def _local_file(module_name: str, base_dir: Path) -> Path | None:
    """The file `module_name` is next to the workflow, or None if its top package is not there."""
    parts = module_name.split(".")
    if not ((base_dir / parts[0]).is_dir() or (base_dir / f"{parts[0]}.py").is_file()):
        return None
    where = base_dir.joinpath(*parts)
    for candidate in (where.with_suffix(".py"), where / "__init__.py"):
        if candidate.is_file():
            return candidate
    return where  # the top is local but this module is not there: reported as not found


def _private_package(base_dir: Path) -> str:
    """The private package whose submodules are the modules next to the workflow (made once)."""
    folder = base_dir.resolve()
    name = "_podium_local_" + hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    if name not in sys.modules:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        package = importlib.util.module_from_spec(spec)
        package.__doc__ = f"the python modules next to the workflow in {folder}"
        sys.modules[name] = package
    return name


@contextmanager
def _path_last(directory: Path) -> Iterator[None]:
    # the module's own imports of its neighbours (`import helpers`) find them, but an installed or
    # standard module of the same name wins: a neighbour never shadows what the process imports
    added = str(directory) not in sys.path
    if added:
        sys.path.append(str(directory))
    try:
        yield
    finally:
        if added:
            with suppress(ValueError):
                sys.path.remove(str(directory))


def import_function(reference: str, base_dir: Path) -> Callable[..., Any]:
    """Import `module:function`, looking next to the workflow file first, then on sys.path.

    A module next to the workflow is loaded under a private name and evicts nothing from
    `sys.modules`: a `json.py` there serves `json:f` without replacing the standard `json`.
    """
    module_name, attr = _split(reference)
    if _local_file(module_name, base_dir) is not None:
        with _path_last(base_dir):
            module = importlib.import_module(f"{_private_package(base_dir)}.{module_name}")
    else:
        module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"'{reference}' is not callable")
    return obj


# --- reading, not running -----------------------------------------------------------------------


def _installed_file(module_name: str) -> Path | None:
    """Where an installed module's source is, found without importing it (nor its parents)."""
    parts = module_name.split(".")
    spec = importlib.machinery.PathFinder.find_spec(parts[0])
    if spec is None:
        if parts[0] in sys.builtin_module_names or parts[0] in sys.modules:
            return Path()  # there, with no source to read
        raise ModuleNotFoundError(f"No module named '{parts[0]}'")
    for i in range(2, len(parts) + 1):
        if spec.submodule_search_locations is None:
            raise ModuleNotFoundError(f"No module named '{'.'.join(parts[:i])}'")
        found = importlib.machinery.PathFinder.find_spec(
            ".".join(parts[:i]), list(spec.submodule_search_locations)
        )
        if found is None:
            raise ModuleNotFoundError(f"No module named '{'.'.join(parts[:i])}'")
        spec = found
    origin = spec.origin
    return Path(origin) if origin and origin.endswith(".py") else Path()


def _defines(tree: ast.Module, name: str) -> bool | None:
    """Whether the module's top level binds `name`: True, False, or None when it cannot tell
    without running it (a star import, a module `__getattr__`)."""
    unsure = False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                return True
            unsure |= node.name == "__getattr__"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    unsure = True
                elif (alias.asname or alias.name.split(".")[0]) == name:
                    return True
        else:
            # assignments, and definitions under `if`/`try` at the top level
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store) and sub.id == name:
                    return True
                defined = isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                if defined and sub.name == name:
                    return True
                if isinstance(sub, ast.alias) and (sub.asname or sub.name.split(".")[0]) == name:
                    return True
    return None if unsure else False


class NotAFunction(TypeError):
    """The module binds the name to a value that can never be called (`x = 5`)."""


def find_function(reference: str, base_dir: Path) -> None:
    """Check, without importing or running anything, that `module:function` can be loaded.

    Raises what `import_function` would for what can be seen in the source: ValueError for a
    malformed reference, ModuleNotFoundError when there is no such module, SyntaxError when its
    source does not parse, AttributeError when the module's source does not define the name. What
    only running can tell is left to the run.
    """
    module_name, attr = _split(reference)
    local = _local_file(module_name, base_dir)
    if local is not None:
        if not local.is_file():
            raise ModuleNotFoundError(f"No module named '{module_name}' next to the workflow")
        path = local
    elif (loaded := sys.modules.get(module_name)) is not None:
        # already imported by this process (`os.path`, the standard library): looking costs nothing
        if not hasattr(loaded, attr.split(".")[0]):
            raise AttributeError(f"module '{module_name}' has no attribute '{attr.split('.')[0]}'")
        return
    else:
        path = _installed_file(module_name)
    if not path.is_file():
        return  # a compiled or built-in module: there, and nothing to read
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise SyntaxError(f"{path.name} line {exc.lineno}: {exc.msg}") from None
    except (OSError, ValueError) as exc:
        raise ImportError(f"cannot read {path}: {exc}") from None
    head = attr.split(".")[0]
    if _defines(tree, head) is False:
        raise AttributeError(f"module '{module_name}' has no attribute '{head}'")
    if head == attr and (line := _plain_value_at(tree, head)) is not None:
        raise NotAFunction(f"{module_name}.{head} is a plain value (line {line}), not a function")


def _plain_value_at(tree: ast.Module, name: str) -> int | None:
    """The line of `name = <literal>` when every top-level binding of `name` is one; else None.

    A literal (a number, text, a list or mapping of them) is never callable; anything else (a
    call, a lambda, a name) may be, and only running can tell.
    """
    line = None
    for node in tree.body:
        bound = {
            sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)
        } | {
            getattr(sub, "name", None) or (getattr(sub, "asname", None) or "")
            for sub in ast.walk(node)
            if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.alias)
        }
        if name not in bound:
            continue
        simple = isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
        if not simple or not _literal(node.value):  # type: ignore[union-attr]
            return None
        line = node.lineno
    return line


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True
