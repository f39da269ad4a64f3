"""Fixtures: FakeCloud registered through a tiny in-test plugin, its emulator, and the CLI pointed at both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from fakecloud_emulator import FakeCloudEmulator
from fakecloud_provider import FakeCloudProvider

import podium.cli
from podium.testing import PluginsFixture


@pytest.fixture
def fakecloud(podium_plugins: PluginsFixture) -> PluginsFixture:
    """A plugin manager with FakeCloud registered beside the built-ins."""
    podium_plugins.register_provider(FakeCloudProvider)
    return podium_plugins


@pytest.fixture
def emulator() -> Iterator[FakeCloudEmulator]:
    with FakeCloudEmulator() as running:
        yield running


@pytest.fixture
def cli(fakecloud: PluginsFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> object:
    """``cli("deploy", …)``: the podium command line, in this process, with FakeCloud installed."""
    monkeypatch.setattr(podium.cli._State, "plugins", fakecloud.pm)
    monkeypatch.setenv("PODIUM_DB", str(tmp_path) + "/runs.db")
    monkeypatch.setenv("NO_COLOR", "1")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(podium.cli.cli, list(args), catch_exceptions=False)

    return invoke
