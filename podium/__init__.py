"""podium: one provider-neutral orchestration layer over managed cloud agent services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "Run",
    "Workflow",
    "__version__",
    "aresume",
    "arun",
    "cancel",
    "decide",
    "get_run",
    "load",
    "resume",
    "run",
]

if TYPE_CHECKING:
    from podium.api import aresume, arun, cancel, decide, get_run, load, resume, run
    from podium.core.run import Run
    from podium.core.spec import Workflow

_LAZY = {
    "aresume": "podium.api",
    "cancel": "podium.api",
    "decide": "podium.api",
    "resume": "podium.api",
    "arun": "podium.api",
    "get_run": "podium.api",
    "load": "podium.api",
    "run": "podium.api",
    "Run": "podium.core.run",
    "Workflow": "podium.core.spec",
}


def __getattr__(name: str) -> Any:
    # Names load on first use so that `import podium` (and the CLI's start-up) stays light.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'podium' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # the public names show in dir(podium) and completion before they are first loaded
    return sorted({*globals(), *__all__})
