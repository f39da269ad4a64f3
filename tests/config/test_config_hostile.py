"""A podium.toml with values of the wrong type: each problem at its key, with a fix in TOML's words."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_support import write

from podium.config import load_config
from podium.core.errors import ConfigError
from podium.plugins.manager import Plugins


def test_every_wrong_value_in_podium_toml_has_a_fix(tmp_path: Path) -> None:
    text = (
        "[profiles.a]\nprovider = 5\nfallback = 3\n"
        '[profiles.b]\nproviders.local = { concurrency = "x" }\n'
        '[profiles]\nc = "x"\n'
    )
    path = write(tmp_path, "podium.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, Plugins.of(None).providers)
    problems = {p.field: p for p in caught.value.problems}
    assert problems["profiles.a.provider"].fix == 'write text in quotes: key = "value"'
    assert problems["profiles.a.fallback"].fix == 'write a list: key = ["a", "b"]'
    assert "must be a table" in problems["profiles.c"].message
    assert all(p.fix for p in caught.value.problems), [str(p) for p in caught.value.problems]


def test_a_provider_setting_of_the_wrong_type_has_a_fix(tmp_path: Path) -> None:
    text = '[profiles.b]\nproviders.local = { concurrency = "x", base_url = 5 }\n'
    path = write(tmp_path, "podium.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, Plugins.of(None).providers)
    fixes = {p.field: p.fix for p in caught.value.problems}
    assert fixes == {
        "profiles.b.providers.local.concurrency": "write a whole number, e.g. 3",
        "profiles.b.providers.local.base_url": 'write text in quotes: key = "value"',
    }


def test_a_bad_model_from_a_profile_says_where_the_profile_set_it(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from podium.cli import cli

    (tmp_path / "flow.yaml").write_text(
        "name: f\nagents:\n  w: {instructions: hi}\nsteps:\n  a: {agent: w, prompt: hi}\n"
    )
    write(tmp_path, "podium.toml", '[profiles.a]\nprovider = "bedrock"\nagents.w.model = "fastt"\n')
    for command in ("validate", "run"):
        done = CliRunner().invoke(
            cli,
            [command, str(tmp_path / "flow.yaml"), "--profile", "a"],
            env={"NO_COLOR": "1", "PODIUM_DB": str(tmp_path / "r.db"), "PODIUM_PROFILE": None},
        )
        assert done.exit_code == 2, done.output
        assert "did you mean 'fast'? (the model is set at podium.toml:3 profile a)" in done.output


def test_a_podium_toml_saved_with_a_bom_and_crlf_reads_as_without(tmp_path: Path) -> None:
    # Windows editors (Notepad) save UTF-8 with a byte-order mark; tomllib refuses one at 1:1
    from podium.cost.catalog import load_catalog

    path = tmp_path / "podium.toml"
    path.write_bytes(b'\xef\xbb\xbf[profiles.a]\r\nprovider = "local"\r\n[prices]\r\nfiles = []\r\n')
    config = load_config(path, Plugins.of(None).providers)
    assert config.profiles["a"].provider == "local"
    load_catalog(config=path)  # the cost plugin reads its [prices] from the same file
