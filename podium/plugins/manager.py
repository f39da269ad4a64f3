"""Builds the PluginManager: the built-ins plus the `podium` entry-point group, each load guarded."""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

import pluggy

from podium.core.errors import PluginError, UnknownProvider
from podium.plugins import hookspecs

if TYPE_CHECKING:
    from podium.core.calls import Provider

# Built-in plugins load exactly like third-party ones (same hooks), from this list rather than
# from entry points so that a source checkout works without being installed. An entry is a module
# (the module is the plugin) or `module:Class` (the plugin is an instance, one per manager, so a
# plugin with state keeps it apart from other managers'); the entry is the plugin's name.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "podium.providers.local.plugin",
    "podium.providers.bedrock.plugin",
    "podium.cost.plugin:CostPlugin",
)
ENTRY_POINT_GROUP = "podium"


@dataclass
class LoadReport:
    """Which plugins loaded, and which failed with what error."""

    loaded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def build_plugin_manager(
    *, entry_points_too: bool = True, extra: Iterable[object] = ()
) -> pluggy.PluginManager:
    """A PluginManager with podium's hookspecs, the built-ins and installed plugins.

    `PODIUM_LOAD_PLUGINS=name,name` limits which entry-point plugins load (an empty value loads
    none); built-ins always load. A plugin that fails to import is reported, not fatal.
    """
    pm = pluggy.PluginManager("podium")
    pm.add_hookspecs(hookspecs)
    report = LoadReport()
    pm.podium_load_report = report  # type: ignore[attr-defined]
    for name in DEFAULT_PLUGINS:
        module_name, _, attr = name.partition(":")
        module = importlib.import_module(module_name)
        pm.register(_instance(getattr(module, attr)) if attr else module, name=name)
        report.loaded.append(name)
    if entry_points_too:
        allowed = os.environ.get("PODIUM_LOAD_PLUGINS")
        allow = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if allow is not None and ep.name not in allow:
                continue
            if pm.get_plugin(ep.name) is not None:
                continue
            try:
                pm.register(_instance(ep.load()), name=ep.name)
                try:
                    pm.check_pending()  # a misspelled hook: this plugin is refused, not podium
                except Exception:
                    pm.unregister(name=ep.name)
                    raise
                report.loaded.append(ep.name)
            except Exception as exc:  # one broken plugin must not take podium down
                report.failed[ep.name] = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"podium plugin '{ep.name}' failed to load: {exc}", RuntimeWarning, stacklevel=2
                )
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


def _instance(plugin: object) -> object:
    """A plugin given as a class is instantiated, so each manager has its own (and its own state)."""
    return plugin() if isinstance(plugin, type) else plugin


class ProviderRegistry:
    """Provider classes by name, as plugins registered them through `podium_register_providers`."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._classes: dict[str, type[Provider]] = {}
        self._origin: dict[str, str] = {}
        for impl in pm.hook.podium_register_providers.get_hookimpls():
            origin = impl.plugin_name

            def register(cls: type[Provider], _origin: str = origin) -> None:
                name = getattr(cls, "name", None)
                if not isinstance(name, str) or not name:
                    raise PluginError(f"plugin '{_origin}' registered a provider without a name")
                if name in self._classes and self._origin[name] != _origin:
                    raise PluginError(
                        f"provider '{name}' is registered by both '{self._origin[name]}' and '{_origin}'",
                        fix="uninstall one of them, or limit plugins with PODIUM_LOAD_PLUGINS",
                    )
                self._classes[name] = cls
                self._origin[name] = _origin

            impl.function(**{a: register for a in impl.argnames})

    def names(self) -> list[str]:
        return sorted(self._classes)

    def get(self, name: str) -> type[Provider]:
        try:
            return self._classes[name]
        except KeyError:
            extra = name if name in ("bedrock", "vertex", "azure") else "bedrock"
            raise UnknownProvider(
                f"no provider named '{name}' is installed (installed: {', '.join(self.names())})",
                fix=f"pip install 'podium[{extra}]' for a cloud, or the plugin that provides it",
            ) from None

    def origin(self, name: str) -> str:
        return self._origin[name]

    def __contains__(self, name: object) -> bool:
        return name in self._classes
