"""Profiles through the command line, as a user types it: run, validate, deploy, config show, bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from config_support import FLOW, HAIKU, SONNET, write

from podium.testing import run_cli

TOML = f"""
[profiles.aws]
provider = "bedrock"
providers.bedrock = {{ region = "us-east-1", max_attempts = 1, models = {{ smart = "{SONNET}" }} }}

[profiles.aws.agents.writer.bedrock]
model = "{HAIKU}"

[profiles.aws.agents.editor]
provider = "bedrock"

[profiles.local]
provider = "local"
"""


@pytest.fixture
def folder(tmp_path: Path, own_home: Path) -> Path:
    project = tmp_path / "project"
    write(project, "flow.yaml", FLOW)
    write(project, "podium.toml", TOML)
    return project


def podium(*args: str, folder: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = run_cli(*args, db=folder / "runs.db", cwd=folder, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_run_with_a_profile_binds_every_agent_as_it_says(folder: Path) -> None:
    done = podium("run", "flow.yaml", "--profile", "aws", "--emulate", "--json", folder=folder)

    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["outputs"] == {"memo": "Tidal power, briefly."}
    bound = {
        sid: (s["provider"], s["bound_to"]["kind"], s["bound_to"]["id"]) for sid, s in run["steps"].items()
    }
    assert bound == {"research": ("bedrock", "model", SONNET), "write": ("bedrock", "model", HAIKU)}
    # a profile binding an agent the workflow lacks: said, and the run goes on
    assert "warning: podium.toml:8: profile 'aws' binds agent 'editor'" in done.stderr


def test_podium_profile_in_the_environment_chooses_the_profile_and_the_flag_beats_it(folder: Path) -> None:
    by_env = podium(
        "run", "flow.yaml", "--emulate", "--json", "-q", folder=folder, env={"PODIUM_PROFILE": "aws"}
    )
    assert by_env.returncode == 0, by_env.stderr
    assert {s["provider"] for s in json.loads(by_env.stdout)["steps"].values()} == {"bedrock"}
    flag = podium(
        "run", "flow.yaml", "--profile", "local", "--json", folder=folder, env={"PODIUM_PROFILE": "aws"}
    )
    assert flag.returncode == 0, flag.stderr
    assert {s["bound_to"]["kind"] for s in json.loads(flag.stdout)["steps"].values()} == {"mock"}


def test_set_on_run_beats_the_profile_and_a_bad_one_is_bad_input(folder: Path) -> None:
    shown = podium(
        "config", "show", "flow.yaml", "--profile", "aws", "--set", "bedrock.region=eu-west-1", "--json",
        folder=folder,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["providers"]["bedrock"]["region"] == {
        "value": "eu-west-1",
        "from": "--set",
    }
    bad = podium("run", "flow.yaml", "--profile", "aws", "--set", "bedrock.max_attempts=many", folder=folder)
    assert bad.returncode == 2
    assert "--set: bedrock.max_attempts: Input should be a valid integer" in bad.stderr


def test_config_show_prints_every_agents_binding_and_where_it_came_from(folder: Path) -> None:
    done = podium("config", "show", "flow.yaml", "--profile", "aws", folder=folder, env={"COLUMNS": "200"})

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"workflow 'memo' under profile aws (--profile; {folder / 'podium.toml'})" in out
    writer = next(line for line in out.splitlines() if "│ writer" in line)
    assert f"model {HAIKU}" in writer and "provider: podium.toml:2 profile aws" in writer
    assert "bedrock.model: podium.toml:6 profile aws" in out
    researcher = next(line for line in out.splitlines() if "│ researcher" in line)
    assert f"model {SONNET}" in researcher
    assert "model smart: flow.yaml:5" in out
    assert "region" in out and "podium.toml:3 profile aws" in out

    data = json.loads(
        podium("config", "show", "flow.yaml", "--profile", "aws", "--json", folder=folder).stdout
    )
    assert data["profile"] == "aws" and data["agents"]["writer"]["kind"] == "model"
    assert data["agents"]["writer"]["binding"]["model"] == {
        "value": HAIKU,
        "from": "podium.toml:6 profile aws",
    }
    assert data["warnings"] and "editor" in data["warnings"][0]


def test_config_show_without_a_workflow_lists_the_profiles_of_the_file_found(folder: Path) -> None:
    done = podium("config", "show", folder=folder)
    assert done.returncode == 0, done.stderr
    assert "profile aws (podium.toml:1)" in done.stdout and "profile local (podium.toml:11)" in done.stdout
    assert f"agents.writer: bedrock {{'model': '{HAIKU}'}}  (podium.toml:5)" in done.stdout


def test_a_profile_that_does_not_exist_lists_the_ones_that_do(folder: Path) -> None:
    for command in (["run", "flow.yaml"], ["validate", "flow.yaml"], ["config", "show", "flow.yaml"]):
        done = podium(*command, "--profile", "azure", folder=folder)
        assert done.returncode == 2, (command, done.stderr)
        assert "profile 'azure' (--profile) is not in" in done.stderr
        assert "fix: profiles in podium.toml: aws, local; or add a [profiles.azure] table" in done.stderr


def test_a_malformed_podium_toml_names_the_file_the_line_and_the_fix(folder: Path) -> None:
    (folder / "podium.toml").write_text(TOML.lstrip().replace('provider = "local"', "provider = local"))
    done = podium("run", "flow.yaml", folder=folder)
    assert done.returncode == 2
    assert "podium.toml:12:12: not valid TOML: Invalid value" in done.stderr
    assert 'fix: quote text: write key = "value"' in done.stderr
    checked = podium("validate", "flow.yaml", "--json", folder=folder)
    assert checked.returncode == 2
    (problem,) = json.loads(checked.stdout)["problems"]
    assert problem["line"] == 12 and problem["file"].endswith("podium.toml")


def test_validate_and_deploy_take_a_profile(folder: Path) -> None:
    ok = podium("validate", "flow.yaml", "--profile", "aws", folder=folder)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: flow.yaml (profile aws) — workflow 'memo', 2 steps")
    deployed = podium("deploy", "flow.yaml", "--profile", "aws", "--emulate", "--json", folder=folder)
    assert deployed.returncode == 0, deployed.stderr
    rows = json.loads(deployed.stdout)
    assert rows["provider"] == "bedrock"  # the profile's provider: no --provider needed
    assert {r["agent"]: r["foundation_model"] for r in rows["agents"]} == {
        "researcher": SONNET,
        "writer": HAIKU,
    }
    local = podium("deploy", "flow.yaml", "--profile", "local", folder=folder)
    assert local.returncode == 2 and "provider 'local' has no managed agents to deploy" in local.stderr


def test_config_elsewhere_replaces_the_lookup(folder: Path, tmp_path: Path) -> None:
    other = write(
        tmp_path / "team",
        "team.toml",
        '[profiles.team]\nprovider = "bedrock"\nagents.writer.model = "fast"\n',
    )
    done = podium("validate", "flow.yaml", "--config", str(other), "--profile", "team", folder=folder)
    assert done.returncode == 0, done.stderr
    missing = podium("validate", "flow.yaml", "--config", str(tmp_path / "nope.toml"), folder=folder)
    assert missing.returncode == 2 and "nope.toml: no such file" in missing.stderr


def test_a_lock_file_for_another_target_is_said_on_the_terminal_and_in_the_runs_binding(folder: Path) -> None:
    """Agents deployed to AWS (region us-east-1, no endpoint), run against the emulator: the user is
    told on stderr, and the run's JSON says each step ran on a model because of it."""
    lock = {
        "version": 1,
        "workflows": {
            "memo": {
                "bedrock": [
                    {
                        "region": "us-east-1",
                        "endpoint_url": None,
                        "agents": {"researcher": {"agent_id": "AB12CD34EF", "alias_id": "GH56IJ78KL"}},
                    }
                ]
            }
        },
    }
    (folder / "podium-lock.json").write_text(json.dumps(lock))
    done = podium("run", "flow.yaml", "--profile", "aws", "--emulate", "--json", folder=folder)

    assert done.returncode == 0, done.stderr
    assert (
        "podium-lock.json has bedrock agents of 'memo' deployed for region us-east-1, endpoint_url (default),"
        in done.stderr
    )
    assert "the agents run on their models instead" in done.stderr
    steps = json.loads(done.stdout)["steps"]
    assert steps["research"]["bound_to"] == {
        "kind": "model", "id": SONNET, "via": "model; the lock file is for another target"
    }  # fmt: skip


def test_config_show_resolves_a_model_class_to_the_clouds_model(tmp_path: Path) -> None:
    triage = Path(__file__).resolve().parents[2] / "examples" / "triage"
    for profile, model in (("gcp", "gemini-2.5-flash"), ("aws", HAIKU)):
        shown = podium("config", "show", "triage.yaml", "--profile", profile, "--json", folder=triage)
        assert shown.returncode == 0, shown.stderr
        agents = json.loads(shown.stdout)["agents"]
        assert agents["classifier"]["target"] == f"{model} (model class fast)"
        assert agents["classifier"]["model"] == "fast"
