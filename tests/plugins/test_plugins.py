"""The plugin contract: built-ins load as plugins, every hook works through a tiny in-test plugin,
broken plugins are reported rather than fatal, and every hook is tested and documented."""

from __future__ import annotations

import inspect
import os
import re
import sys
import warnings
from pathlib import Path

import pluggy
import pytest

import podium
from podium.core.calls import AgentRequest, AgentResponse, Provider, ProviderConfig, Usage
from podium.core.errors import BudgetExceeded, PluginError, UnknownProvider
from podium.core.events import Event, EventType
from podium.core.spec import Workflow
from podium.core.store import MemoryStore
from podium.plugins import hookimpl, hookspecs
from podium.plugins import manager as plugin_manager
from podium.plugins.manager import DEFAULT_PLUGINS, ProviderRegistry, load_plugins
from podium.providers.local.provider import LocalProvider

REPO = Path(__file__).resolve().parents[2]
HOOKS = sorted(
    name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("podium_")
)


class EchoProvider(Provider):
    """A provider that answers with the prompt and counts its calls."""

    name = "echo"
    Config = ProviderConfig
    calls: list[AgentRequest] = []  # reset by the fixture below

    async def invoke(self, request: AgentRequest) -> AgentResponse:
        type(self).calls.append(request)
        return AgentResponse(
            text=f"echo: {request.prompt}",
            usage=Usage(input_tokens=3, output_tokens=4),
            model=request.model,
            response_id=f"resp-{len(type(self).calls)}",
        )


class EchoPlugin:
    @hookimpl
    def podium_register_providers(self, register):
        register(EchoProvider)


@pytest.fixture(autouse=True)
def _fresh_echo_calls(monkeypatch):
    monkeypatch.setattr(EchoProvider, "calls", [])
    monkeypatch.delenv("PODIUM_LOAD_PLUGINS", raising=False)


@pytest.fixture
def no_entry_points(monkeypatch):
    """Keep whatever is installed in this environment out of the manager."""
    monkeypatch.setattr(plugin_manager, "entry_points", lambda **kw: [])


def echo_workflow(**extra) -> Workflow:
    return Workflow.model_validate(
        {
            "name": "echoed",
            "agents": {"parrot": {"provider": "echo", "model": "m1"}},
            "steps": {
                "first": {"agent": "parrot", "prompt": "hello {{ inputs.who }}"},
                "second": {
                    "agent": "parrot",
                    "prompt": "again: {{ steps.first.output }}",
                    "needs": "first",
                },
            },
            "inputs": {"who": {"type": "string", "default": "world"}},
            "outputs": {"answer": "{{ steps.second.output }}"},
            **extra,
        }
    )


class FakeEntryPoint:
    def __init__(self, name: str, plugin: object = None, error: Exception | None = None):
        self.name = name
        self.group = "podium"
        self.value = f"{name}_pkg:plugin"
        self._plugin = plugin
        self._error = error
        self.loaded = 0

    def load(self):
        self.loaded += 1
        if self._error is not None:
            raise self._error
        return self._plugin


def fake_entry_points(monkeypatch, *eps: FakeEntryPoint) -> list[dict]:
    asked: list[dict] = []

    def entry_points(**kwargs):
        asked.append(kwargs)
        return [ep for ep in eps if kwargs.get("group") in (None, ep.group)]

    monkeypatch.setattr(plugin_manager, "entry_points", entry_points)
    return asked


class NamedPlugin:
    """A distinct object per entry point, observing events."""

    def __init__(self, label: str):
        self.label = label
        self.seen: list[str] = []

    @hookimpl
    def podium_event(self, event):
        self.seen.append(str(event.type))


# --- the manager ----------------------------------------------------------------------------


def test_load_plugins_loads_the_local_provider_as_a_plugin(no_entry_points):
    pm = load_plugins()
    assert isinstance(pm.pm, pluggy.PluginManager)
    assert "podium.providers.local.plugin" in DEFAULT_PLUGINS
    assert pm.pm.get_plugin("podium.providers.local.plugin") is not None
    assert "podium.providers.local.plugin" in pm.report.loaded
    assert pm.report.failed == {}
    registry = pm.providers
    assert registry is pm.providers  # gathered once
    assert "local" in registry.names()
    assert "local" in registry
    assert registry.get("local") is LocalProvider
    assert registry.origin("local") == "podium.providers.local.plugin"


def test_each_manager_is_independent(no_entry_points):
    one = load_plugins(extra=[EchoPlugin()])
    two = load_plugins()
    assert "echo" in ProviderRegistry(one)
    assert "echo" not in ProviderRegistry(two)


def test_an_unknown_provider_name_is_bad_input_with_a_fix(no_entry_points):
    registry = ProviderRegistry(load_plugins())
    with pytest.raises(UnknownProvider) as info:
        registry.get("bedrok")
    assert info.value.exit_code == 2
    assert "bedrok" in info.value.message
    assert "local" in info.value.message  # names what is installed
    assert info.value.fix


def test_without_entry_points_none_are_consulted(monkeypatch):
    def boom(**kw):
        raise AssertionError("entry points were read")

    monkeypatch.setattr(plugin_manager, "entry_points", boom)
    pm = load_plugins(entry_points_too=False)
    assert pm.report.loaded == list(DEFAULT_PLUGINS)


def test_an_entry_point_plugin_is_loaded_under_its_name(monkeypatch):
    plugin = NamedPlugin("good")
    asked = fake_entry_points(monkeypatch, FakeEntryPoint("good", plugin))
    pm = load_plugins()
    assert asked == [{"group": "podium"}]
    assert pm.pm.get_plugin("good") is plugin
    assert "good" in pm.report.loaded


def test_an_entry_point_naming_a_class_gets_an_instance_per_manager(monkeypatch):
    class Counting:  # state on the instance: each manager's plugin counts its own events
        def __init__(self):
            self.seen = []

        @hookimpl
        def podium_event(self, event):
            self.seen.append(event.type)

    fake_entry_points(monkeypatch, FakeEntryPoint("counting", Counting))
    one, two = load_plugins(), load_plugins()
    first, second = one.pm.get_plugin("counting"), two.pm.get_plugin("counting")
    assert isinstance(first, Counting) and isinstance(second, Counting) and first is not second
    assert "counting" in one.report.loaded
    one.hook.podium_event(event=Event("r1", 1, EventType.RUN_FINISHED, data={"status": "succeeded"}))
    assert first.seen == [EventType.RUN_FINISHED] and second.seen == []


def test_a_broken_entry_point_plugin_is_reported_not_fatal(monkeypatch):
    good = NamedPlugin("good")
    broken = FakeEntryPoint("broken", error=ImportError("No module named 'missing_sdk'"))
    fake_entry_points(monkeypatch, broken, FakeEntryPoint("good", good))

    with pytest.warns(RuntimeWarning, match="broken"):
        pm = load_plugins()

    report = pm.report
    assert report.failed == {"broken": "ImportError: No module named 'missing_sdk'"}
    assert "broken" not in report.loaded
    assert "good" in report.loaded
    assert pm.pm.get_plugin("broken") is None
    assert "local" in ProviderRegistry(pm).names()


def test_an_entry_point_plugin_with_a_bad_hook_signature_is_reported(monkeypatch):
    class WrongArgs:
        @hookimpl
        def podium_event(self, evt):
            pass

    fake_entry_points(
        monkeypatch,
        FakeEntryPoint("wrongargs", WrongArgs()),
        FakeEntryPoint("ok", NamedPlugin("ok")),
    )
    with pytest.warns(RuntimeWarning, match="wrongargs"):
        pm = load_plugins()
    assert "wrongargs" in pm.report.failed
    assert "ok" in pm.report.loaded


def test_an_entry_point_plugin_with_a_misspelled_hook_is_reported_not_fatal(monkeypatch):
    # check_pending() must not let one installed plugin's typo take every podium command down
    class Misspelled:
        @hookimpl
        def podium_evnt(self, event):
            pass

    fake_entry_points(
        monkeypatch, FakeEntryPoint("typo", Misspelled()), FakeEntryPoint("ok", NamedPlugin("ok"))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pm = load_plugins()
    assert "podium_evnt" in pm.report.failed.get("typo", "")
    assert pm.pm.get_plugin("typo") is None
    assert "ok" in pm.report.loaded
    assert "local" in ProviderRegistry(pm)


@pytest.mark.parametrize(
    ("allow", "loaded"),
    [
        (None, {"alpha", "beta"}),
        ("alpha", {"alpha"}),
        (" beta , nosuch ", {"beta"}),
        ("", set()),
    ],
)
def test_podium_load_plugins_is_an_allow_list(monkeypatch, allow, loaded):
    eps = [FakeEntryPoint(n, NamedPlugin(n)) for n in ("alpha", "beta")]
    broken = FakeEntryPoint("gamma", error=RuntimeError("never load me"))
    fake_entry_points(monkeypatch, *eps, broken)
    if allow is None:
        monkeypatch.delenv("PODIUM_LOAD_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("PODIUM_LOAD_PLUGINS", allow)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pm = load_plugins()

    got = {ep.name for ep in eps if pm.pm.get_plugin(ep.name) is not None}
    assert got == loaded
    assert {ep.name for ep in eps if ep.loaded} == loaded  # filtered before import, not after
    assert (broken.loaded == 1) is (allow is None)
    assert "podium.providers.local.plugin" in pm.report.loaded  # local and cost always load
    assert "podium.cost.plugin:CostPlugin" in pm.report.loaded
    # a built-in cloud is chosen like an installed plugin, by its provider name
    assert ("bedrock" in pm.providers) is (allow is None)


@pytest.mark.parametrize(("allow", "providers"), [("local", ["local"]), ("bedrock", ["bedrock", "local"])])
def test_podium_load_plugins_limits_the_built_in_clouds_too(no_entry_points, monkeypatch, allow, providers):
    monkeypatch.setenv("PODIUM_LOAD_PLUGINS", allow)
    assert load_plugins().providers.names() == providers


def test_two_plugins_registering_one_provider_name_is_a_plugin_error(no_entry_points):
    class Other:
        @hookimpl
        def podium_register_providers(self, register):
            register(type("AnotherEcho", (EchoProvider,), {}))

    pm = load_plugins(extra=[EchoPlugin(), Other()])
    with pytest.raises(PluginError) as info:
        ProviderRegistry(pm)
    assert "'echo'" in info.value.message
    assert info.value.fix and "PODIUM_LOAD_PLUGINS" in info.value.fix


def test_a_plugin_cannot_silently_replace_a_built_in_provider(no_entry_points):
    class Impostor:
        @hookimpl
        def podium_register_providers(self, register):
            register(type("FakeLocal", (EchoProvider,), {"name": "local"}))

    with pytest.raises(PluginError, match="'local'"):
        ProviderRegistry(load_plugins(extra=[Impostor()]))


def test_a_provider_without_a_name_is_a_plugin_error(no_entry_points):
    class Nameless:
        @hookimpl
        def podium_register_providers(self, register):
            register(type("NoName", (Provider,), {}))

    with pytest.raises(PluginError, match="without a name"):
        ProviderRegistry(load_plugins(extra=[Nameless()]))


def test_a_misspelled_hook_name_is_caught_by_check_pending(no_entry_points):
    class Typo:
        @hookimpl
        def podium_evnt(self, event):
            pass

    with pytest.raises(pluggy.PluginValidationError, match="podium_evnt"):
        load_plugins(extra=[Typo()])


def test_a_hook_with_an_argument_podium_does_not_pass_is_refused(no_entry_points):
    class WrongArgs:
        @hookimpl
        def podium_before_call(self, run, step, request, budget):
            pass

    with pytest.raises(pluggy.PluginValidationError, match="budget"):
        load_plugins(extra=[WrongArgs()])


# --- one test per hook (the contract test below checks that each has one) -------------------


async def test_hook_podium_register_providers(no_entry_points):
    pm = load_plugins(extra=[EchoPlugin()])
    names = ProviderRegistry(pm).names()
    assert {"echo", "local"} <= set(names) and names == sorted(names)

    store = MemoryStore()
    run = await podium.arun(echo_workflow(), {"who": "podium"}, plugins=pm, store=store)

    assert run.status == "succeeded", run.error
    assert run.steps["first"].output == "echo: hello podium"
    assert run.outputs == {"answer": "echo: again: echo: hello podium"}
    assert [r.step for r in EchoProvider.calls] == ["first", "second"]
    assert {r.provider for r in EchoProvider.calls} == {"echo"}
    assert {r.model for r in EchoProvider.calls} == {"m1"}
    assert run.usage.input_tokens == 6 and run.usage.output_tokens == 8
    calls = [e for e in store.events(run.run_id) if e.type is EventType.CALL_FINISHED]
    assert [e.data["provider"] for e in calls] == ["echo", "echo"]
    assert [e.data["response_id"] for e in calls] == ["resp-1", "resp-2"]


async def test_a_provider_plugin_gets_its_config_from_the_workflow(no_entry_points):
    class Configured(EchoProvider):
        name = "configured"

        class Config(ProviderConfig):
            greeting: str = "hi"

        async def invoke(self, request):
            return AgentResponse(text=f"{self.config.greeting} {request.model}")

    class Plugin:
        @hookimpl
        def podium_register_providers(self, register):
            register(Configured)

    wf = Workflow.model_validate(
        {
            "name": "cfg",
            "agents": {"a": {"provider": "configured", "model": "fast"}},
            "providers": {"configured": {"greeting": "hola", "models": {"fast": "model-x-1"}}},
            "steps": {"s": {"agent": "a", "prompt": "p"}},
        }
    )
    pm = load_plugins(extra=[Plugin()])
    run = await podium.arun(wf, plugins=pm, store=MemoryStore())
    assert run.steps["s"].output == "hola model-x-1"


async def test_hook_podium_event(no_entry_points):
    class Observer:
        def __init__(self):
            self.events = []

        @hookimpl
        def podium_event(self, event):
            self.events.append(event)

    observer = Observer()
    store = MemoryStore()
    pm = load_plugins(extra=[EchoPlugin(), observer])
    run = await podium.arun(echo_workflow(), plugins=pm, store=store)

    seen = observer.events
    assert seen == store.events(run.run_id)  # every event, after it is in the store
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
    assert {e.run_id for e in seen} == {run.run_id}
    types = [e.type for e in seen]
    assert types[0] is EventType.RUN_STARTED
    assert types[-1] is EventType.RUN_FINISHED
    assert types.count(EventType.STEP_STARTED) == 2
    assert types.count(EventType.CALL_STARTED) == 2
    assert types.count(EventType.CALL_FINISHED) == 2
    assert types.count(EventType.STEP_SUCCEEDED) == 2
    first = [e.type for e in seen if e.step == "first"]
    assert first == [
        EventType.STEP_STARTED,
        EventType.CALL_STARTED,
        EventType.CALL_FINISHED,
        EventType.STEP_SUCCEEDED,
    ]
    assert seen[-1].data["status"] == "succeeded"


async def test_podium_event_sees_failures_and_skips_too(no_entry_points):
    seen: list[EventType] = []

    class Observer:
        @hookimpl
        def podium_event(self, event):
            seen.append(event.type)

    wf = Workflow.model_validate(
        {
            "name": "mixed",
            "agents": {"a": {"provider": "local"}},
            "steps": {
                "skipped": {"agent": "a", "when": False},
                "bad": {"agent": "a", "prompt": "x", "retry": {"attempts": 2, "backoff": 0}},
            },
            "mock": {"bad": {"error": "transient"}},
        }
    )
    run = await podium.arun(wf, plugins=load_plugins(extra=[Observer()]), store=MemoryStore())
    assert run.status == "failed"
    assert EventType.STEP_SKIPPED in seen
    assert seen.count(EventType.CALL_FAILED) == 2
    assert EventType.STEP_FAILED in seen
    assert seen[-1] is EventType.RUN_FINISHED


async def test_an_observer_passed_to_arun_is_registered_for_that_run_only(no_entry_points):
    class Observer:
        def __init__(self):
            self.types = []

        @hookimpl
        def podium_event(self, event):
            self.types.append(event.type)

    pm = load_plugins(extra=[EchoPlugin()])
    observer = Observer()
    await podium.arun(echo_workflow(), plugins=pm, store=MemoryStore(), observers=[observer])
    assert observer.types[0] is EventType.RUN_STARTED
    assert observer.types[-1] is EventType.RUN_FINISHED
    assert not pm.pm.is_registered(observer)
    count = len(observer.types)
    await podium.arun(echo_workflow(), plugins=pm, store=MemoryStore())
    assert len(observer.types) == count


async def test_a_failing_observer_does_not_break_the_run(no_entry_points, caplog):
    class Buggy:
        @hookimpl
        def podium_event(self, event):
            raise ZeroDivisionError("observer bug")

    pm = load_plugins(extra=[EchoPlugin(), Buggy()])
    run = await podium.arun(echo_workflow(), plugins=pm, store=MemoryStore())
    assert run.status == "succeeded"
    assert "podium_event observer failed" in caplog.text


async def test_hook_podium_before_call(no_entry_points):
    seen = []

    class Inspector:
        @hookimpl
        def podium_before_call(self, run, step, request):
            seen.append((run.run_id, run.workflow.name, step, request))

    pm = load_plugins(extra=[EchoPlugin(), Inspector()])
    run = await podium.arun(echo_workflow(), plugins=pm, store=MemoryStore())
    assert run.ok
    assert [(r, w, s) for r, w, s, _ in seen] == [
        (run.run_id, "echoed", "first"),
        (run.run_id, "echoed", "second"),
    ]
    request = seen[0][3]
    assert isinstance(request, AgentRequest)
    assert (request.provider, request.model, request.prompt) == ("echo", "m1", "hello world")
    assert request.attempt == 1


async def test_before_call_raising_budget_exceeded_stops_the_run_before_the_call(no_entry_points):
    class Budget:
        @hookimpl
        def podium_before_call(self, request):  # a plugin may take a subset of the arguments
            raise BudgetExceeded(
                "run budget $0.01 would be exceeded", fix="raise budget.per_run, then resume"
            )

    store = MemoryStore()
    pm = load_plugins(extra=[EchoPlugin(), Budget()])
    run = await podium.arun(echo_workflow(), plugins=pm, store=store)

    assert EchoProvider.calls == []  # refused before the provider was called
    assert run.status == "stopped"
    assert run.error is not None
    assert (run.error.kind, run.error.step) == ("budget", "first")
    assert "budget" in run.error.message
    assert run.error.fix == "raise budget.per_run, then resume"
    types = [e.type for e in store.events(run.run_id)]
    assert EventType.CALL_STARTED not in types
    assert EventType.RUN_STOPPED in types
    assert EventType.RUN_FINISHED not in types  # stopped is resumable, not finished
    assert store.get_run(run.run_id).status == "stopped"
    assert run.steps["second"].status == "pending"


def test_hook_podium_register_commands(no_entry_points):
    import click
    from click.testing import CliRunner

    class Commands:
        @hookimpl
        def podium_register_commands(self, cli):
            @cli.command(name="hello")
            @click.argument("who")
            def hello(who):
                """Say hello."""
                click.echo(f"hello {who}")

    @click.group()
    def cli():
        pass

    pm = load_plugins(extra=[Commands()])
    pm.hook.podium_register_commands(cli=cli)

    assert "hello" in cli.commands
    result = CliRunner().invoke(cli, ["hello", "podium"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello podium\n"


async def test_hook_podium_span_attributes(no_entry_points):
    from podium.trace.export import run_spans

    class Team:
        def __init__(self):
            self.seen = []

        @hookimpl
        def podium_span_attributes(self, event):
            self.seen.append(event.seq)
            if event.type is EventType.CALL_FINISHED:
                return {"team.cost_center": "research", "team.api_key": "abc123-secret"}
            return None

    team = Team()
    store = MemoryStore()
    pm = load_plugins(extra=[EchoPlugin(), team])
    run = await podium.arun(echo_workflow(), plugins=pm, store=store)

    spans = run_spans(store, run.run_id, plugins=pm)
    assert team.seen == [e.seq for e in store.events(run.run_id)]  # every event, in order
    calls = [s for s in spans if s.kind == "call"]
    assert len(calls) == 2
    assert all(s.attributes["team.cost_center"] == "research" for s in calls)
    assert all(s.attributes["team.api_key"] == "[REDACTED]" for s in calls)  # still redacted
    assert all("team.cost_center" not in s.attributes for s in spans if s.kind != "call")
    # the cost plugin's own answer rides alongside: each call's price, or why there is none
    assert all("podium.cost_status" in s.attributes for s in calls)


async def test_hook_podium_run_summary(no_entry_points, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from podium import cli as podium_cli
    from podium.core.store import open_store
    from podium.plugins.hookspecs import RunSummary

    class Notes:
        @hookimpl
        def podium_run_summary(self, run, store):
            calls = [e for e in store.events(run.run_id) if e.type is EventType.CALL_FINISHED]
            return RunSummary(
                "notes",
                {"steps": list(run.steps), "calls": len(calls)},
                view=lambda: f"notes: {len(calls)} calls in {run.workflow}",
            )

    class Silent:  # a plugin with nothing to say about a run adds nothing
        @hookimpl
        def podium_run_summary(self, run):
            return None

    db = tmp_path / "runs.db"
    pm = load_plugins(extra=[EchoPlugin(), Notes(), Silent()])
    store = open_store(db)
    try:
        run = await podium.arun(echo_workflow(), plugins=pm, store=store)
    finally:
        store.close()
    monkeypatch.setattr(podium_cli._State, "plugins", pm)

    shown = CliRunner().invoke(podium_cli.cli, ["show", run.run_id, "--json", "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["notes"] == {"steps": ["first", "second"], "calls": 2}
    assert data["cost"]["input_tokens"] == 6  # the cost plugin's piece, beside it
    assert data["cost"]["unpriced"] == [
        {"provider": "echo", "model": "m1", "calls": 2, "reason": data["cost"]["unpriced"][0]["reason"]}
    ]
    assert data["status"] == "succeeded" and data["run_id"] == run.run_id

    people = CliRunner().invoke(podium_cli.cli, ["show", run.run_id, "--db", str(db)], env={"NO_COLOR": "1"})
    assert people.exit_code == 0, people.output
    assert "notes: 2 calls in echoed" in people.stdout


# --- contract tests, as datasette does them -------------------------------------------------


def test_there_are_hooks():
    assert "podium_register_providers" in HOOKS
    assert "podium_before_call" in HOOKS
    assert "podium_event" in HOOKS
    assert "podium_register_commands" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = {name for name in vars(sys.modules[__name__]) if name.startswith("test_hook_")}
    assert f"test_hook_{hook}" in tests, f"add a test_hook_{hook} to {__file__}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    doc = REPO / "docs" / "plugins.md"
    assert doc.is_file(), "docs/plugins.md documents every hook, one section each"
    text = doc.read_text(encoding="utf-8")
    headings = re.findall(r"^#+\s.*$", text, flags=re.MULTILINE)
    assert any(hook in h for h in headings), f"docs/plugins.md needs a section for {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_is_named_for_podium_and_has_a_docstring(hook):
    fn = getattr(hookspecs, hook)
    assert hook.startswith("podium_")
    assert fn.__doc__ and fn.__doc__.strip()
    assert hasattr(fn, "podium_spec")  # marked with podium's HookspecMarker


def test_a_plugin_installed_while_the_process_runs_is_found_by_the_next_load(tmp_path, monkeypatch):
    # the installed entry points are read once and kept while no folder on sys.path changes
    site = tmp_path / "site"
    site.mkdir()
    (site / "latecomer_plugin.py").write_text("from podium.plugins import hookimpl\nNAME = 'late'\n")
    os.utime(site, (1_000_000_000, 1_000_000_000))  # older than the install below, whatever the clock
    monkeypatch.syspath_prepend(str(site))
    assert "latecomer" not in load_plugins().report.loaded
    assert "latecomer" not in load_plugins().report.loaded  # (kept: the folders did not change)
    info = site / "latecomer-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: latecomer\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[podium]\nlatecomer = latecomer_plugin\n")
    assert "latecomer" in load_plugins().report.loaded


def test_a_bug_in_a_command_is_told_in_a_line_and_debug_shows_its_traceback(monkeypatch):
    import click
    from click.testing import CliRunner

    from podium.cli import cli
    from podium.plugins.commands import guard

    @click.command(name="boom")
    @guard
    def boom():
        raise KeyError("the missing piece")

    monkeypatch.setitem(cli.commands, "boom", boom)
    result = CliRunner().invoke(cli, ["boom"])
    assert result.exit_code == 1
    assert "error: internal: KeyError: 'the missing piece'" in result.output
    assert "podium --debug" in result.output and "Traceback" not in result.output
    debug = CliRunner().invoke(cli, ["--debug", "boom"])
    assert isinstance(debug.exception, KeyError)  # the traceback, for the bug report
    usage = CliRunner().invoke(cli, ["boom", "--nope"])
    assert usage.exit_code == 2 and "No such option" in usage.output  # click's own errors pass
