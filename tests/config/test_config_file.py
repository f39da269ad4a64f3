"""podium.toml read once into models: every problem named with its file, line, key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_support import write

from podium.config import find_config, load_config, parse_config
from podium.config.lines import key_lines
from podium.core.errors import ConfigError
from podium.plugins.manager import Plugins

GOOD = """
default_profile = "local"

[profiles.aws]
description = "Bedrock in us-east-1"
provider = "bedrock"
providers.bedrock = { region = "us-east-1", models = { smart = "us.anthropic.claude-sonnet-4-5" } }

[profiles.aws.agents.researcher.bedrock]
agent_id = "ABCDEFGHIJ"
alias_id = "KLMNOPQRST"

[profiles.aws.agents.writer]
bedrock = { model = "us.anthropic.claude-haiku-4-5-20251001-v1:0" }

[profiles.local]
provider = "local"
"""


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, "podium.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, Plugins.of(None).providers)
    return [str(p) for p in caught.value.problems]


def test_a_good_file_reads_into_profiles(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "podium.toml", GOOD), Plugins.of(None).providers)
    assert cfg.default_profile == "local" and list(cfg.profiles) == ["aws", "local"]
    aws = cfg.profiles["aws"]
    assert aws.provider == "bedrock" and aws.providers["bedrock"]["region"] == "us-east-1"
    assert aws.agents["researcher"].bindings == {
        "bedrock": {"agent_id": "ABCDEFGHIJ", "alias_id": "KLMNOPQRST"}
    }
    assert cfg.where("profiles", "aws", "agents", "writer", "bedrock", "model") == "podium.toml:13"
    assert cfg.where("profiles", "aws", "providers", "bedrock", "region") == "podium.toml:6"


def test_a_syntax_error_names_the_file_the_line_and_the_fix(tmp_path: Path) -> None:
    text = GOOD.replace('provider = "local"', "provider = local")
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'podium.toml'}:16:")
    assert "not valid TOML: Invalid value" in problem and 'fix: quote text: write key = "value"' in problem


def test_a_table_written_twice_says_to_merge_them(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, GOOD + '\n[profiles.local]\nprovider = "bedrock"\n')
    assert ":18:" in problem and "merge the two [sections]" in problem


def test_semantic_problems_are_all_reported_at_their_lines_with_did_you_mean(tmp_path: Path) -> None:
    text = (
        GOOD.replace('provider = "bedrock"', 'provider = "bedrok"')
        .replace('region = "us-east-1"', 'regoin = "us-east-1"')
        .replace('alias_id = "KLMNOPQRST"', 'alias_id = "short"')
        .replace("[profiles.local]", "[profiles.local]\nprovidr = 'x'")
    )
    problems = problems_of(tmp_path, text)
    assert len(problems) == 4, problems
    bad_provider, bad_setting, bad_alias, unknown_key = problems
    assert ":5:1: profiles.aws.provider: unknown provider 'bedrok'; did you mean 'bedrock'?" in bad_provider
    assert ":6:" in bad_setting and "unknown setting 'regoin'; did you mean 'region'?" in bad_setting
    assert "fix: settings of provider bedrock: " in bad_setting
    assert ":10:1: profiles.aws.agents.researcher.bedrock.alias_id:" in bad_alias
    assert "fix: alias_id: The agent alias to invoke" in bad_alias
    assert ":16:1: profiles.local.providr: unknown key 'providr'; did you mean 'provider'?" in unknown_key
    assert (
        "fix: keys allowed in profiles.local: description, provider, fallback, providers, agents"
        in unknown_key
    )


def test_a_default_profile_that_is_not_there_lists_the_ones_that_are(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, GOOD.replace('default_profile = "local"', 'default_profile = "locl"'))
    assert (
        ":1:1: default_profile: names profile 'locl', which is not in the file; did you mean 'local'?"
        in problem
    )
    assert "profiles in the file: aws, local" in problem


def test_an_agents_section_for_no_provider_is_an_unknown_key(tmp_path: Path) -> None:
    (problem,) = problems_of(
        tmp_path,
        GOOD.replace("[profiles.aws.agents.writer]\nbedrock", "[profiles.aws.agents.writer]\nbedrck"),
    )
    assert (
        ":13:1: profiles.aws.agents.writer.bedrck: unknown key 'bedrck'; did you mean 'bedrock'?" in problem
    )


def test_the_line_scan_places_headers_dotted_quoted_and_inline_keys() -> None:
    text = 'a = 1\n[t."x y".z]\nk.j = { m = { n = "}" }, o = 2 }\ns = """\nfake = 1\n"""\nafter = 3\n'
    lines = key_lines(text)
    assert lines[("a",)] == (1, 1)
    assert lines[("t", "x y", "z")] == (2, 1)
    assert lines[("t", "x y", "z", "k")] == (3, 1)
    assert lines[("t", "x y", "z", "k", "j", "m", "n")][0] == 3
    assert lines[("t", "x y", "z", "k", "j", "o")][0] == 3
    assert ("t", "x y", "z", "fake") not in lines  # inside a multi-line string
    assert lines[("t", "x y", "z", "after")] == (7, 1)


def test_lookup_takes_the_nearest_folder_upwards_then_home_and_nothing_else(
    tmp_path: Path, own_home: Path
) -> None:
    deep = tmp_path / "proj" / "flows" / "daily"
    deep.mkdir(parents=True)
    assert find_config(deep) is None
    write(own_home, ".podium/podium.toml", GOOD)
    assert find_config(deep) == own_home / ".podium" / "podium.toml"
    write(tmp_path / "proj", "podium.toml", GOOD)
    assert find_config(deep) == (tmp_path / "proj" / "podium.toml").resolve()
    write(deep, "podium.toml", GOOD)
    assert find_config(deep) == (deep / "podium.toml").resolve()


def test_parse_without_installed_providers_still_checks_the_shape() -> None:
    with pytest.raises(ConfigError, match="unknown key 'profile'"):
        parse_config('[profile.aws]\nprovider = "bedrock"\n')


def test_the_cost_plugins_prices_section_sits_beside_the_profiles(tmp_path: Path) -> None:
    prices = '[[prices.models]]\nprovider = "local"\nmodel = "house"\ninput_mtok = 1\noutput_mtok = 2\n'
    text = GOOD + "\n" + prices
    cfg = load_config(write(tmp_path, "podium.toml", text), Plugins.of(None).providers)
    assert list(cfg.profiles) == ["aws", "local"]
