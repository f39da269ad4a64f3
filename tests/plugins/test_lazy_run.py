"""A run of python functions pays only for what it uses: no cloud's provider module is imported and
no price data is loaded (the ledger's fingerprint is known without it); a priced call afterwards loads
the catalog and is priced as before. Checked in a fresh interpreter, whose modules are its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from podium.core.errors import PluginError, UnknownProvider
from podium.plugins import hookimpl
from podium.plugins.manager import ProviderRef, ProviderRegistry, load_plugins

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sqlite3, sys
import podium
from podium.core.calls import AgentResponse, Usage
from podium.cost.catalog import load_catalog
from podium.cost.catalog import loading
from podium.cost.ledger import derive_rows
from podium.core.store import SQLiteStore
from podium.plugins.manager import load_plugins
from podium.testing import ProviderPlugin, function_provider

CLOUDS = ("bedrock", "vertex", "azure", "a2a")
out = {}
free = podium.run("free.yaml", store="runs.db")
assert free.ok, free.error
# each cloud's package and its small plugin module load with the plugins; nothing else of it
out["clouds"] = sorted(m for m in sys.modules if m.split(".")[:2] == ["podium", "providers"]
                       and len(m.split(".")) > 3 and m.split(".")[2] in CLOUDS and not m.endswith(".plugin"))
out["price_data"] = sorted(m for m in sys.modules if m.split(".")[0] == "genai_prices")
out["catalogs_loaded"] = loading._cached_catalog.cache_info().currsize

def reply(request):
    return AgentResponse(text="done", usage=Usage(input_tokens=1000, output_tokens=100))

pm = load_plugins(extra=[ProviderPlugin(function_provider("fake", reply))])
store = SQLiteStore("runs.db")
priced = podium.run("priced.yaml", store=store, plugins=pm)
assert priced.ok, priced.error
catalog = load_catalog()
cost = next(p for p in pm.pm.get_plugins() if type(p).__name__ == "CostPlugin")
kept = cost.meter().rows_for(priced.run_id)
want = derive_rows(store.events(priced.run_id), catalog)
out["priced_same"] = kept == want
out["priced"] = [(r.step, r.status, str(r.cost)) for r in kept]
out["fingerprint"] = catalog.fingerprint
with sqlite3.connect("runs.db") as db:  # stamped with the fingerprint the catalog had before it loaded
    row = db.execute("SELECT catalog FROM cost_runs WHERE run_id=?", (priced.run_id,)).fetchone()
    out["stamped"] = row[0]
print(json.dumps(out))
"""


def test_a_run_of_python_functions_imports_no_cloud_and_loads_no_prices(tmp_path: Path) -> None:
    """Catches a cloud's provider registered by its class (imported as plugins load), the workflow's
    checks reading every provider's models, and the price catalog loaded at the run's start; and a
    deferred catalog whose fingerprint or prices differ from the loaded one's."""
    (tmp_path / "fns.py").write_text("def hello(prompt):\n    return 'hi ' + prompt\n")
    (tmp_path / "free.yaml").write_text(
        textwrap.dedent("""
        name: free
        agents: {a: {function: "fns:hello"}}
        steps:
          s1: {agent: a, prompt: one}
          s2: {agent: a, prompt: two, needs: [s1]}
        """)
    )
    (tmp_path / "priced.yaml").write_text(
        textwrap.dedent("""
        name: priced
        agents: {w: {provider: fake, model: gpt-4o-mini}}
        steps:
          s1: {agent: w, prompt: one}
        """)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    env.pop("PODIUM_LOAD_PLUGINS", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["clouds"] == []
    assert out["price_data"] == [] and out["catalogs_loaded"] == 0
    assert out["stamped"] == out["fingerprint"]  # the loaded catalog's: a resume's ledger check agrees
    assert out["priced_same"] is True
    [(step, status, cost)] = out["priced"]
    assert (step, status) == ("s1", "priced") and float(cost) > 0


def _registry(*plugins: object) -> ProviderRegistry:
    return ProviderRegistry(load_plugins(entry_points_too=False, extra=plugins).pm)


class _Refs:
    def __init__(self, *refs: ProviderRef) -> None:
        self.refs = refs

    @hookimpl
    def podium_register_providers(self, register):  # type: ignore[no-untyped-def]
        for ref in self.refs:
            register(ref)


def test_a_provider_registered_by_reference_is_listed_then_loaded_on_first_use(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Catches a reference imported when plugins load, or not resolved to its class by `get`."""
    monkeypatch.setenv("PODIUM_LOAD_PLUGINS", "")
    sys.modules.pop("lazy_echo_support", None)
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    registry = _registry(_Refs(ProviderRef("lazy-echo", "lazy_echo_support:LazyEcho")))
    assert "lazy-echo" in registry and registry.names() == ["lazy-echo", "local"]
    assert "lazy_echo_support" not in sys.modules
    cls = registry.get("lazy-echo")
    assert cls.name == "lazy-echo" and "lazy_echo_support" in sys.modules
    assert registry.get("lazy-echo") is cls


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_here:Nothing", "cannot be loaded from no_such_module_here:Nothing"),
        ("lazy_echo_support:Missing", "cannot be loaded from lazy_echo_support:Missing"),
        ("lazy_echo_support:LazyEcho", "whose name is 'lazy-echo'"),
    ],
)
def test_a_reference_that_does_not_lead_to_its_provider_is_a_plugin_error(
    monkeypatch, target: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    """Catches a broken reference surfacing as an ImportError traceback, or a class whose `name`
    is not the one it was registered under (it would answer for another provider)."""
    monkeypatch.setenv("PODIUM_LOAD_PLUGINS", "")
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    registry = _registry(_Refs(ProviderRef("other", target)))
    with pytest.raises(PluginError, match=message) as info:
        registry.get("other")
    assert info.value.fix
    with pytest.raises(UnknownProvider, match="installed: local, other"):
        registry.get("nope")
