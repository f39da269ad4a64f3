"""Loading podium and its plugins loads no Azure or OpenAI SDK; without them, the error names the extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from azure_support import request

from podium.core.calls import ProviderEnv
from podium.providers.azure.config import AzureConfig
from podium.providers.azure.provider import AzureProvider

SDKS = ("azure", "openai", "httpx2", "cryptography")


def test_podium_help_and_the_plugin_registry_load_no_azure_sdk() -> None:
    probe = (
        "import sys, runpy\n"
        "from podium.plugins.manager import load_plugins\n"
        "providers = load_plugins().providers.names()\n"
        "assert 'azure' in providers, providers\n"
        "sys.argv = ['podium', 'providers']\n"
        "try:\n    runpy.run_module('podium', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SDKS!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


async def test_without_the_sdk_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "azure.ai.projects", None)
    provider = AzureProvider(
        AzureConfig(endpoint="https://x.services.ai.azure.com/api/projects/p", token="t"),
        ProviderEnv(workflow="w", base_dir=tmp_path),
    )
    try:
        with pytest.raises(ImportError, match=r"pip install 'podium\[azure\]'"):
            await provider.invoke(request("hi"))
    finally:
        await provider.aclose()
