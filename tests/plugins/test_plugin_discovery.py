"""Which attributes of a plugin are its hooks: found as pluggy finds them, every shape of a hook
implementation, and no property or `__getattr__` of the plugin run while it is registered."""

from __future__ import annotations

import types
from typing import Any

from podium.core.events import Event, EventType
from podium.plugins import hookimpl
from podium.plugins.manager import load_plugins


@hookimpl
def _seen_by_instance(event: Event) -> None:
    Shapes.seen.append(("instance attribute", event.type))


class Shapes:
    """A plugin with a hook in each shape pluggy accepts, and attributes that must not be read."""

    seen: list[tuple[str, EventType]] = []

    def __init__(self) -> None:
        self.podium_event = _seen_by_instance  # a hook set on the instance, not its class

    @hookimpl(specname="podium_event")
    def under_another_name(self, event: Event) -> None:
        Shapes.seen.append(("specname", event.type))

    @staticmethod
    @hookimpl
    def podium_before_call(run: Any, step: str, request: Any) -> None:
        Shapes.seen.append(("staticmethod", EventType.CALL_STARTED))

    @property
    def podium_run_summary(self) -> None:  # registering must not evaluate it
        raise AssertionError("a property of a plugin was read while registering it")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("podium"):  # (pluggy itself asks for __name__: that is not a hook)
            raise AssertionError(f"__getattr__({name!r}) was called while registering the plugin")
        raise AttributeError(name)


def test_every_shape_of_hook_is_found_and_nothing_else_is_evaluated() -> None:
    module = types.ModuleType("a_plugin_module")
    module.podium_event = hookimpl(lambda event: Shapes.seen.append(("module", event.type)))  # type: ignore[attr-defined]
    module.not_a_hook = lambda event: None  # type: ignore[attr-defined]
    plugins = load_plugins(entry_points_too=False, extra=[Shapes(), module])
    Shapes.seen.clear()
    event = Event("R", 1, EventType.RUN_STARTED, None, None, {})
    plugins.event(event=event)
    plugins.pm.hook.podium_before_call(run=None, step="s", request=types.SimpleNamespace(function="f"))
    assert sorted(kind for kind, _ in Shapes.seen) == [
        "instance attribute",
        "module",
        "specname",
        "staticmethod",
    ]
    names = {impl.function.__name__ for impl in plugins.pm.hook.podium_event.get_hookimpls()}
    assert {"under_another_name", "_seen_by_instance", "<lambda>"} <= names
