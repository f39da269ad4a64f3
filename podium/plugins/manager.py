"""Plugins, loaded once at the edge: the built-ins plus the `podium` entry-point group, each load guarded."""

from __future__ import annotations

import functools
import importlib
import os
import sys
import types
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata as _metadata
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pluggy

from podium.core.errors import PluginError, UnknownProvider
from podium.plugins import hookspecs

if TYPE_CHECKING:
    from podium.core.calls import AgentRequest, Provider, RunContext
    from podium.core.events import Event

# Built-in plugins load exactly like third-party ones (same hooks), from this list rather than
# from entry points so that a source checkout works without being installed. An entry is a module
# (the module is the plugin) or `module:Class` (the plugin is an instance, one per manager, so a
# plugin with state keeps it apart from other managers'); the entry is the plugin's name.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "podium.providers.local.plugin",
    "podium.providers.bedrock.plugin",
    "podium.providers.vertex.plugin",
    "podium.providers.azure.plugin",
    "podium.providers.a2a.plugin",
    "podium.cost.plugin:CostPlugin",
    "podium.trace.plugin:TracePlugin",
    "podium.serve.plugin:ServePlugin",
    "podium.ui.plugin:UIPlugin",
    "podium.temporal.plugin:TemporalPlugin",
)
ENTRY_POINT_GROUP = "podium"
# the built-ins PODIUM_LOAD_PLUGINS cannot leave out: the in-process executor (every run's last
# fallback), the cost meter, the trace and `podium ui`; the clouds' built-in providers are chosen like
# installed plugins
ALWAYS_LOADED = frozenset({"local", "cost", "trace", "ui"})


def short_name(entry: str) -> str:
    """What PODIUM_LOAD_PLUGINS calls a built-in: `podium.providers.bedrock.plugin` is `bedrock`."""
    parts = entry.partition(":")[0].split(".")
    return parts[-2] if parts[-1] == "plugin" and len(parts) > 1 else parts[-1]


@dataclass
class LoadReport:
    """Which plugins loaded, and which failed with what error."""

    loaded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class Plugins:
    """podium's plugins, loaded once where a command or a library call starts, then handed inward.

    It holds the pluggy manager, what loaded and what failed, and the providers the plugins
    registered (gathered once, again only after `register`). The engine uses it through
    `providers`, `before_call` and `event`, and never sees pluggy.
    """

    def __init__(self, pm: pluggy.PluginManager, report: LoadReport | None = None) -> None:
        self.pm = pm
        self.report = report or LoadReport()
        self._providers: ProviderRegistry | None = None
        self._handlers: tuple[tuple[object, ...], list[Callable[..., None]]] | None = None

    @classmethod
    def of(cls, plugins: Plugins | pluggy.PluginManager | None) -> Plugins:
        """`plugins` as a Plugins: as it is, a pluggy manager wrapped, or None loaded afresh."""
        if isinstance(plugins, Plugins):
            return plugins
        if plugins is None:
            return load_plugins()
        return cls(plugins)

    @property
    def hook(self) -> pluggy.HookRelay:
        return self.pm.hook

    @property
    def providers(self) -> ProviderRegistry:
        """Provider classes by name, as the plugins registered them."""
        if self._providers is None:
            self._providers = ProviderRegistry(self.pm)
        return self._providers

    def register(self, plugin: object, name: str | None = None) -> object:
        """Add a plugin (an object or module with hookimpls); providers are gathered again."""
        self.pm.register(plugin, name=name)
        self._providers = None
        return plugin

    def unregister(self, plugin: object) -> None:
        self.pm.unregister(plugin)
        self._providers = None

    def before_call(self, *, run: RunContext, step: str, request: AgentRequest) -> None:
        caller = self.pm.hook.podium_before_call
        impls = caller.get_hookimpls()
        if any(impl.hookwrapper or impl.wrapper for impl in impls):
            caller(run=run, step=step, request=request)
            return
        # once per call: the implementations called as pluggy's `_multicall` calls them (last
        # registered first; the first to raise, a policy refusing the call, ends it), without
        # its argument checks
        given = {"run": run, "step": step, "request": request}
        for impl in reversed(impls):
            impl.function(*[given[name] for name in impl.argnames])

    def event(self, *, event: Event) -> None:
        self.pm.hook.podium_event(event=event)

    def event_handlers(self) -> list[Callable[..., None]]:
        """The `podium_event` hook as one call per implementation, for a batch of events.

        The engine dispatches the events of a loop turn together: it asks for these once and
        calls each with every event of the batch, in order. Pluggy would check and copy its
        arguments for every event (~5 µs); the implementations are called as its `_multicall`
        calls them, last registered first. A wrapper implementation keeps pluggy's own call.
        """
        caller = self.pm.hook.podium_event
        impls = tuple(caller.get_hookimpls())
        if self._handlers is not None and self._handlers[0] == impls:
            return self._handlers[1]  # the same implementations as at the last batch: the same calls
        if any(impl.hookwrapper or impl.wrapper for impl in impls):
            handlers: list[Callable[..., None]] = [caller]
        else:
            handlers = [i.function if i.argnames else _no_args(i.function) for i in reversed(impls)]
        self._handlers = (impls, handlers)
        return handlers


_HOOKABLE = (types.FunctionType, staticmethod, classmethod, types.MethodType)
_ABSENT = object()


class _Manager(pluggy.PluginManager):
    """pluggy's manager, quicker to register a plugin: most of a `podium.run`'s plugin loading
    (~3 ms a run, ten plugins) was pluggy reading every name of `dir(plugin)`, dunders included,
    with `inspect.getattr_static`. An attribute found as stored (in the module's, the instance's
    or its class's `__dict__`) that is no function, or a function without podium's hookimpl
    marker, is no hook implementation: it is skipped here. Everything else is pluggy's to judge,
    as before (classes as plugins, slots, names not found as stored)."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        raw = _stored(plugin, name)
        if raw is not _ABSENT and (
            not isinstance(raw, _HOOKABLE) or not _marked(raw, self.project_name + "_impl")
        ):
            return None
        return super().parse_hookimpl_opts(plugin, name)


def _stored(plugin: object, name: str) -> object:
    """`name` on `plugin` as stored, without running any descriptor or `__getattr__`; _ABSENT
    when it is not found that way (or `plugin` is a class: pluggy looks for itself)."""
    if isinstance(plugin, type):
        return _ABSENT
    if isinstance(plugin, types.ModuleType):
        return vars(plugin).get(name, _ABSENT)
    try:
        own = object.__getattribute__(plugin, "__dict__")
    except AttributeError:
        own = {}
    if isinstance(own, dict) and name in own:
        return own[name]
    for klass in type(plugin).__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return _ABSENT


def _marked(raw: object, marker: str) -> bool:
    """Whether a function (or its classmethod/staticmethod/bound-method wrapper) carries `marker`."""
    return (
        getattr(raw, marker, None) is not None
        or getattr(getattr(raw, "__func__", None), marker, None) is not None
    )


def load_plugins(*, entry_points_too: bool = True, extra: Iterable[object] = ()) -> Plugins:
    """podium's hookspecs, the built-ins and the installed plugins, as one `Plugins`.

    `PODIUM_LOAD_PLUGINS=name,name` limits which plugins load: installed ones by entry-point name,
    built-in clouds by provider name (`bedrock`); an empty value loads none of them. `local`,
    `cost`, `trace` and `ui` always load. A plugin that fails to import is reported, not fatal.
    """
    pm = _Manager("podium")
    pm.add_hookspecs(hookspecs)
    report = LoadReport()
    allowed = os.environ.get("PODIUM_LOAD_PLUGINS")
    allow = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
    for name in DEFAULT_PLUGINS:
        short = short_name(name)
        if allow is not None and short not in allow and short not in ALWAYS_LOADED:
            continue
        module_name, _, attr = name.partition(":")
        module = importlib.import_module(module_name)
        pm.register(_instance(getattr(module, attr)) if attr else module, name=name)
        report.loaded.append(name)
    if entry_points_too:
        for ep in installed_plugins():
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
    return Plugins(pm, report)


def installed_plugins() -> Sequence[EntryPoint]:
    """The `podium` entry points of the installed distributions.

    Reading them scans every distribution's metadata (~10 ms, for each `podium.run`); the result
    is kept while no folder on `sys.path` changes (an install or uninstall changes its folder's
    mtime), so a script running many workflows scans once.
    """
    if entry_points is not _metadata.entry_points:  # replaced (a test's fake): asked every time
        return list(entry_points(group=ENTRY_POINT_GROUP))
    return _scanned(_path_state())


def _path_state() -> tuple[tuple[str, int | None], ...]:
    state = []
    for folder in sys.path:
        try:
            state.append((folder, os.stat(folder or ".").st_mtime_ns))
        except OSError:
            state.append((folder, None))
    return tuple(state)


@functools.lru_cache(maxsize=4)
def _scanned(state: tuple[tuple[str, int | None], ...]) -> tuple[EntryPoint, ...]:
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def _no_args(function: Callable[..., None]) -> Callable[..., None]:
    def call(*, event: Event) -> None:
        function()

    return call


def _instance(plugin: object) -> object:
    """A plugin given as a class is instantiated, so each manager has its own (and its own state)."""
    return plugin() if isinstance(plugin, type) else plugin


@dataclass(frozen=True, slots=True)
class ProviderRef:
    """A provider class named by where it lives (`module:Class`), imported when it is first used.

    A plugin may `register(ProviderRef("bedrock", "podium.providers.bedrock.provider:BedrockProvider"))`
    instead of the class: its name is listed, checked and reported at once, and its module is
    imported only when a run, a check or a listing asks for the class (a run of python functions
    imports no cloud's provider: ~3 MiB for the four built-in clouds).
    """

    name: str
    target: str

    def load(self, origin: str) -> type[Provider]:
        module_name, _, attr = self.target.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"provider '{self.name}' of plugin '{origin}' cannot be loaded from {self.target}: {exc}",
                fix="reinstall the plugin, or leave it out with PODIUM_LOAD_PLUGINS",
            ) from None
        if getattr(cls, "name", None) != self.name:
            raise PluginError(
                f"plugin '{origin}' registered provider '{self.name}' as {self.target},"
                f" whose name is {getattr(cls, 'name', None)!r}",
                fix="the registered name must be the class's `name`",
            )
        return cls  # type: ignore[no-any-return]


class ProviderRegistry:
    """Provider classes by name, as plugins registered them through `podium_register_providers`.

    A provider registered as a `ProviderRef` is imported by the first `get` of its name.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._classes: dict[str, type[Provider] | ProviderRef] = {}
        self._origin: dict[str, str] = {}
        for impl in pm.hook.podium_register_providers.get_hookimpls():
            origin = impl.plugin_name

            def register(cls: type[Provider] | ProviderRef, _origin: str = origin) -> None:
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
            found = self._classes[name]
        except KeyError:
            extra = name if name in ("bedrock", "vertex", "azure") else "bedrock"
            fix = f"pip install 'podium[{extra}]' for a cloud, or the plugin that provides it"
            allowed = os.environ.get("PODIUM_LOAD_PLUGINS")
            if allowed is not None and name not in {n.strip() for n in allowed.split(",")}:
                # it may well be installed: the allow-list is what left it out
                fix = f"PODIUM_LOAD_PLUGINS={allowed!r} leaves it out: add {name} to it, or unset it"
            raise UnknownProvider(
                f"no provider named '{name}' is installed (installed: {', '.join(self.names())})",
                fix=fix,
            ) from None
        if isinstance(found, ProviderRef):
            found = self._classes[name] = found.load(self._origin[name])
        return found

    def origin(self, name: str) -> str:
        return self._origin[name]

    def __contains__(self, name: object) -> bool:
        return name in self._classes
