"""Which value wins: CLI flag, then environment, then the workflow file, then the profile's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_support import FLOW, HAIKU, SONNET, write

from podium import api
from podium.core.errors import BadInput, InputError, UnknownProvider

TOML = f"""
default_profile = "home"

[profiles.aws]
provider = "bedrock"
providers.bedrock = {{ region = "us-east-1", read_timeout = 30.0, models = {{ smart = "{SONNET}" }} }}

[profiles.aws.agents.writer]
provider = "bedrock"
model = "fast"
bedrock = {{ model = "{HAIKU}" }}

[profiles.aws.agents.ghost]
provider = "bedrock"

[profiles.home]
provider = "local"

[profiles.other]
provider = "vertex"
"""


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    write(tmp_path, "podium.toml", TOML)
    return write(tmp_path, "flow.yaml", FLOW)


def test_the_profile_lays_its_settings_and_bindings_under_a_workflow_that_says_nothing(flow: Path) -> None:
    done = api.configure(flow, profile="aws", environ={})
    assert (done.profile, done.profile_from) == ("aws", "--profile")
    wf = done.workflow
    assert wf.defaults.provider == "bedrock"
    assert wf.providers["bedrock"] == {
        "region": "us-east-1",
        "read_timeout": 30.0,
        "models": {"smart": SONNET},
    }
    assert (
        wf.agents["writer"].bindings == {"bedrock": {"model": HAIKU}} and wf.agents["writer"].model == "fast"
    )
    writer = done.agents["writer"]
    assert (writer.provider.value, writer.kind, writer.target) == ("bedrock", "model", HAIKU)
    assert writer.provider.source == "podium.toml:8 profile aws"  # the agent's own line beats the profile's
    researcher = done.agents["researcher"]
    assert (researcher.provider.source, researcher.kind, researcher.target) == (
        "podium.toml:4 profile aws",
        "model",
        SONNET,
    )
    assert researcher.model is not None and researcher.model.source == "flow.yaml:5"


def test_each_level_beats_the_one_below_it_for_a_provider_setting(flow: Path) -> None:
    def region(
        environ: dict[str, str], sets: dict[str, dict[str, str]] | None = None, text: str = FLOW
    ) -> tuple[str, str]:
        write(flow.parent, flow.name, text)
        done = api.configure(flow, profile="aws", environ=environ, provider_settings=sets)
        value = done.settings["bedrock"]["region"]
        assert done.workflow.providers["bedrock"]["region"] == value.value
        return value.value, value.source

    assert region({}) == ("us-east-1", "podium.toml:5 profile aws")
    in_file = FLOW.replace("agents:", "providers: {bedrock: {region: eu-west-1}}\nagents:", 1)
    assert region({}, text=in_file) == ("eu-west-1", "flow.yaml:2")
    env = {"PODIUM_BEDROCK_REGION": "ap-south-1"}
    assert region(env, text=in_file) == ("ap-south-1", "PODIUM_BEDROCK_REGION")
    assert region(env, {"bedrock": {"region": "sa-east-1"}}, text=in_file) == ("sa-east-1", "--set")
    # the levels below still give what the ones above leave unsaid
    done = api.configure(
        flow, profile="aws", environ=env, provider_settings={"bedrock": {"region": "eu-north-1"}}
    )
    assert done.settings["bedrock"]["read_timeout"].value == 30.0


def test_each_level_beats_the_one_below_it_for_an_agents_provider(flow: Path) -> None:
    def writer(
        text: str = FLOW, environ: dict[str, str] | None = None, provider: str | None = None
    ) -> tuple[str, str]:
        write(flow.parent, flow.name, text)
        done = api.configure(flow, profile="aws", environ=environ or {}, provider=provider)
        chain = done.workflow.chain(done.workflow.steps["write"], done.provider)
        bound = done.agents["writer"].provider
        assert chain[0] == bound.value  # what the engine will call is what config show says
        return bound.value, bound.source

    assert writer() == ("bedrock", "podium.toml:8 profile aws")
    defaults = FLOW.replace("agents:", "defaults: {provider: azure}\nagents:", 1)
    assert writer(defaults) == ("azure", "flow.yaml:2")  # the workflow's defaults beat the profile's agent
    own = defaults.replace("  writer:\n", "  writer:\n    provider: vertex\n")
    assert writer(own) == ("vertex", "flow.yaml:8")
    assert writer(own, {"PODIUM_PROVIDER": "local"}) == ("local", "PODIUM_PROVIDER")
    assert writer(own, {"PODIUM_PROVIDER": "local"}, provider="bedrock") == ("bedrock", "--provider")


def test_the_workflows_own_binding_keys_and_model_beat_the_profiles(flow: Path) -> None:
    write(
        flow.parent,
        flow.name,
        FLOW.replace("  writer:\n", f"  writer:\n    model: smart\n    bedrock: {{model: {SONNET}}}\n"),
    )
    done = api.configure(flow, profile="aws", environ={})
    assert done.workflow.agents["writer"].model == "smart"
    assert done.workflow.agents["writer"].bindings == {"bedrock": {"model": SONNET}}
    assert done.agents["writer"].binding["model"].source == "flow.yaml:8"


def test_the_profile_is_the_flag_else_the_environment_else_the_files_default(flow: Path) -> None:
    assert api.configure(flow, environ={}).profile == "home"
    assert api.configure(flow, environ={}).profile_from == "podium.toml:1 default_profile"
    assert api.configure(flow, environ={"PODIUM_PROFILE": "other"}).profile == "other"
    assert api.configure(flow, profile="aws", environ={"PODIUM_PROFILE": "other"}).profile == "aws"
    assert api.configure(flow, environ={}, use_default=False).profile is None


def test_a_profile_that_does_not_exist_lists_the_ones_that_do(flow: Path) -> None:
    with pytest.raises(BadInput) as caught:
        api.configure(flow, profile="amazon", environ={})
    assert "profile 'amazon' (--profile) is not in" in caught.value.message
    assert caught.value.fix == "profiles in podium.toml: aws, home, other; or add a [profiles.amazon] table"
    with pytest.raises(BadInput, match=r"profile 'othr' \(PODIUM_PROFILE\).*did you mean 'other'"):
        api.configure(flow, environ={"PODIUM_PROFILE": "othr"})


def test_a_profile_with_no_podium_toml_anywhere_says_where_it_looked(tmp_path: Path) -> None:
    flow = write(tmp_path / "lone", "flow.yaml", FLOW)
    with pytest.raises(BadInput) as caught:
        api.configure(flow, profile="aws", environ={})
    assert "no podium.toml found (looked in" in caught.value.message and "--config FILE" in (
        caught.value.fix or ""
    )


def test_config_overrides_the_lookup(flow: Path, tmp_path: Path) -> None:
    elsewhere = write(tmp_path / "team", "shared.toml", '[profiles.team]\nprovider = "azure"\n')
    done = api.configure(flow, profile="team", config=elsewhere, environ={})
    assert done.config_file == elsewhere.resolve() and done.workflow.defaults.provider == "azure"
    with pytest.raises(BadInput, match="profile 'aws'"):
        api.configure(flow, profile="aws", config=elsewhere, environ={})  # the folder's file is not read


def test_a_profile_binding_an_agent_the_workflow_lacks_is_a_warning(flow: Path) -> None:
    done = api.configure(flow, profile="aws", environ={})
    assert done.warnings == [
        "podium.toml:12: profile 'aws' binds agent 'ghost', which workflow 'memo' does not have;"
        " it is ignored"
    ]
    assert "ghost" not in done.workflow.agents


def test_a_bad_setting_from_the_environment_or_a_flag_names_where_it_came_from(flow: Path) -> None:
    with pytest.raises(InputError, match=r"PODIUM_BEDROCK_READ_TIMEOUT: bedrock.read_timeout: Input should"):
        api.configure(flow, profile="aws", environ={"PODIUM_BEDROCK_READ_TIMEOUT": "soon"})
    with pytest.raises(
        InputError, match=r"--set: unknown setting 'regoin' of provider bedrock; did you mean 'region'"
    ):
        api.configure(flow, profile="aws", environ={}, provider_settings={"bedrock": {"regoin": "x"}})
    with pytest.raises(UnknownProvider):
        api.configure(flow, environ={"PODIUM_PROVIDER": "nowhere"})


def test_secrets_are_masked_where_settings_are_shown(flow: Path) -> None:
    done = api.configure(flow, profile="aws", environ={"PODIUM_BEDROCK_AWS_SECRET_ACCESS_KEY": "hush-hush"})
    shown = done.to_json()["providers"]["bedrock"]
    assert shown["aws_secret_access_key"] == {"value": "****", "from": "PODIUM_BEDROCK_AWS_SECRET_ACCESS_KEY"}
    assert "hush-hush" not in str(done.to_json())


def test_a_profile_provider_overruled_by_the_workflows_defaults_is_said(flow: Path) -> None:
    write(flow.parent, flow.name, FLOW.replace("agents:", "defaults: {provider: local}\nagents:", 1))
    done = api.configure(flow, profile="aws", environ={})
    assert done.workflow.defaults.provider == "local"
    assert any(
        w.startswith(
            "podium.toml:4: profile 'aws' sets provider bedrock, but flow.yaml:2 defaults.provider local"
        )
        for w in done.warnings
    ), done.warnings
