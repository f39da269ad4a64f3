"""The house rules of podium's package: which folder may import which, and no import cycles.

Drawn as a house, `core` is the ground floor; `plugins` stands on it; the providers, cost and
trace stand on both and never on each other; `api` and `emulate` above them; the command line
and the test kit on top. An import may only go down (or stay on its floor, inside its own
package). Lazy imports inside functions count: they still tie the floors together.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "podium"

# (prefix, floor); the longest matching prefix wins
FLOORS: tuple[tuple[str, int], ...] = (
    ("podium.core", 0),
    ("podium.plugins", 1),
    ("podium.providers", 2),
    ("podium.cost", 2),
    ("podium.trace", 2),
    ("podium.picture", 1),
    ("podium.ui", 3),
    ("podium.serve", 3),
    ("podium.temporal", 3),
    ("podium.authoring", 3),
    ("podium.api", 3),
    ("podium.config", 3),
    ("podium.emulate", 3),
    ("podium.resolve", 3),
    ("podium.testing", 4),
    ("podium.cli", 4),
    ("podium.cli_view", 4),
    ("podium.cli_cloud", 4),
    ("podium.cli_config", 4),
    ("podium.cli_authoring", 4),
    ("podium.__main__", 5),
    ("podium", 5),  # the package's lazy front door
)
PLUGINS_ON_FLOOR_2 = ("podium.providers", "podium.cost", "podium.trace")
PROVIDER_MAY_IMPORT = ("podium.core.calls", "podium.core.errors", "podium.providers._kit", "podium.plugins")


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # the importing module
    target: str  # the imported podium module
    line: int
    lazy: bool  # inside a function
    typing_only: bool  # under `if TYPE_CHECKING:`


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str) -> str:
    """The podium module an import names (`from podium.core import spec` names podium.core.spec)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, lazy: bool, typing_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from visit(child, True, typing_only)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.body:
                    yield from visit(ast.Module(body=[sub], type_ignores=[]), lazy, True)
                for sub in child.orelse:
                    yield from visit(ast.Module(body=[sub], type_ignores=[]), lazy, typing_only)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("podium"):
                        yield Import(module, _resolve(alias.name), child.lineno, lazy, typing_only)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                if not base.startswith("podium"):
                    continue
                for alias in child.names:
                    yield Import(module, _resolve(f"{base}.{alias.name}"), child.lineno, lazy, typing_only)
            else:
                yield from visit(child, lazy, typing_only)

    yield from visit(tree, False, False)


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]


def floor(module: str) -> tuple[str, int]:
    best = max(
        (p for p in FLOORS if module == p[0] or module.startswith(p[0] + ".")), key=lambda p: len(p[0])
    )
    return best


def _top(module: str, prefix: str) -> str:
    """The sub-package of `prefix` that `module` lives in (podium.providers.bedrock.x -> ...bedrock)."""
    rest = module[len(prefix) + 1 :].split(".")
    return f"{prefix}.{rest[0]}" if rest and rest[0] else prefix


def _where(imp: Import) -> str:
    return f"{MODULES[imp.source].relative_to(ROOT.parent)}:{imp.line}: {imp.source} imports {imp.target}"


def test_the_checker_sees_the_imports_it_must_judge() -> None:
    """Guards the guard: the import scan finds known edges, lazy and typing-only ones included."""
    edges = {(i.source, i.target, i.lazy, i.typing_only) for i in IMPORTS}
    assert ("podium.core.engine", "podium.core.scheduler", False, False) in edges
    assert ("podium.api", "podium.core.engine", True, False) in edges
    assert any(i.typing_only for i in IMPORTS)
    assert floor("podium.providers.bedrock.provider") == ("podium.providers", 2)
    assert floor("podium.cli_view") == ("podium.cli_view", 4)


def test_no_import_runs_up_a_floor() -> None:
    upward = [
        _where(imp)
        for imp in IMPORTS
        if imp.target != "podium" and floor(imp.target)[1] > floor(imp.source)[1]
    ]
    assert upward == [], "imports that run up the house:\n" + "\n".join(upward)


def test_core_imports_no_plugin_machinery_provider_cost_trace_api_or_cli() -> None:
    bad = [
        _where(imp)
        for imp in IMPORTS
        if imp.source.startswith("podium.core") and not imp.target.startswith("podium.core")
    ]
    assert bad == [], "\n".join(bad)


def test_providers_cost_and_trace_never_import_each_other() -> None:
    bad = []
    for imp in IMPORTS:
        src = next((p for p in PLUGINS_ON_FLOOR_2 if imp.source.startswith(p)), None)
        dst = next((p for p in PLUGINS_ON_FLOOR_2 if imp.target.startswith(p)), None)
        if src and dst and src != dst:
            bad.append(_where(imp))
    assert bad == [], "\n".join(bad)


def test_a_provider_never_imports_another_provider() -> None:
    bad = []
    for imp in IMPORTS:
        if not (imp.source.startswith("podium.providers.") and imp.target.startswith("podium.providers.")):
            continue
        src, dst = _top(imp.source, "podium.providers"), _top(imp.target, "podium.providers")
        if src != dst and dst != "podium.providers._kit":
            bad.append(_where(imp))
    assert bad == [], "\n".join(bad)


def test_a_provider_package_imports_only_the_contract_the_kit_and_plugins() -> None:
    """A cloud's own package sees podium only through core.calls, core.errors, the kit and the
    hook markers (typing-only imports of the workflow spec aside), so that a new cloud is cheap."""
    bad = []
    for imp in IMPORTS:
        if not imp.source.startswith("podium.providers.") or imp.source.startswith("podium.providers._kit"):
            continue
        own = _top(imp.source, "podium.providers")
        if imp.target.startswith(own) or imp.typing_only:
            continue
        if not any(imp.target == p or imp.target.startswith(p + ".") for p in PROVIDER_MAY_IMPORT):
            bad.append(_where(imp))
    assert bad == [], "\n".join(bad)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("lazy", [False, True], ids=["module-level", "with-lazy-imports"])
def test_no_import_cycles(lazy: bool) -> None:
    """No circle of imports between modules, even through imports made inside functions."""
    graph: dict[str, set[str]] = {}
    for imp in IMPORTS:
        if imp.typing_only or (imp.lazy and not lazy) or imp.target in (imp.source, "podium"):
            continue
        if imp.source == _resolve(imp.source).rpartition(".")[0]:
            continue
        # a package's __init__ re-exporting its own modules is not a circle
        if MODULES[imp.source].name == "__init__.py" and imp.target.startswith(imp.source + "."):
            continue
        graph.setdefault(imp.source, set()).add(imp.target)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])
