"""`podium schema`: the JSON Schema editors use, checked against the examples and the loader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import podium
from podium.authoring.schema import missing_descriptions
from podium.cli_authoring import workflow_schema
from podium.core.errors import WorkflowError
from podium.plugins.manager import load_plugins
from podium.testing import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("*.yaml"))
STARTERS = sorted((ROOT / "podium" / "authoring" / "starters").rglob("*.yaml"))

BASE = """
name: checked
agents:
  writer: {instructions: Write., model: fast}
steps:
  draft: {agent: writer, prompt: hello}
"""


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return workflow_schema(load_plugins())


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_is_valid_json_schema_and_every_field_says_what_it_is(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert missing_descriptions(schema) == []


@pytest.mark.parametrize("path", EXAMPLES + STARTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_and_starter_validates(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    data = yaml.safe_load(path.read_text())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []


def test_each_installed_providers_settings_and_binding_are_completed(schema: dict[str, Any]) -> None:
    providers = schema["properties"]["providers"]["properties"]
    assert {"local", "bedrock", "vertex", "azure"} <= set(providers)
    agent = schema["$defs"]["Agent"]["properties"]
    bedrock = schema["$defs"][agent["bedrock"]["$ref"].rsplit("/", 1)[1]]
    assert {"agent_id", "alias_id", "model"} <= set(bedrock["properties"])
    assert bedrock["properties"]["agent_id"]["description"]


def _variant(path: list[str], value: Any) -> dict[str, Any]:
    data = yaml.safe_load(BASE)
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return data


BAD = {
    "an unknown top-level key": (["stepz"], {}),
    "an unknown step key": (["steps", "draft", "promt"], "hi"),
    "an unknown agent key": (["agents", "writer", "instruction"], "Write."),
    "an unknown provider binding": (["agents", "writer", "bedrok"], {"model": "m"}),
    "an unknown key in a binding": (["agents", "writer", "bedrock"], {"agentid": "ABCDEFGHIJ"}),
    "a malformed agent id": (["agents", "writer", "bedrock"], {"agent_id": "short"}),
    "an unknown provider setting": (["providers", "bedrock"], {"regoin": "us-east-1"}),
    "a word for a number": (["defaults", "concurrency"], "many"),
    "zero attempts": (["defaults", "retry"], {"attempts": 0}),
    "a list for a prompt": (["steps", "draft", "prompt"], ["a", "b"]),
    "a timeout that is not a duration": (["steps", "draft", "timeout"], "soon"),
    "an input type that does not exist": (["inputs"], {"topic": "text"}),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_the_schema_refuses_what_the_loader_refuses(
    case: str, validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    path, value = BAD[case]
    data = _variant(path, value)
    assert not validator.is_valid(data), f"the schema accepts {case}"
    file = tmp_path / "flow.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(WorkflowError):
        podium.load(file)


SHORT = {
    "needs as one name": (["steps", "review"], {"agent": "writer", "needs": "draft"}),
    "output as a type name": (["steps", "draft", "output"], "string"),
    "approval: true": (["steps", "ok"], {"approval": True, "needs": ["draft"]}),
    "approval as a message": (["steps", "ok"], {"approval": "Ship it?", "needs": ["draft"]}),
    "a timeout with a unit": (["steps", "draft", "timeout"], "2m"),
    "a default timeout with a unit": (["defaults", "timeout"], "5m"),
    "a tool as module:function": (["agents", "writer", "tools"], {"lookup": "tools_mod:lookup"}),
    "an input as its type": (["inputs"], {"topic": "string"}),
    "fallback as one name": (["defaults", "fallback"], "local"),
    "an empty provider section": (["providers", "local"], None),
}


@pytest.mark.parametrize("case", SHORT, ids=list(SHORT))
def test_the_schema_accepts_the_short_forms_the_loader_accepts(
    case: str, validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    path, value = SHORT[case]
    data = _variant(path, value)
    assert validator.is_valid(data), [e.message for e in validator.iter_errors(data)]
    (tmp_path / "tools_mod.py").write_text("def lookup(x: str) -> str:\n    return x\n")
    file = tmp_path / "flow.yaml"
    file.write_text(yaml.safe_dump(data))
    podium.load(file)


def test_podium_schema_prints_it_and_writes_it_to_a_file(tmp_path: Path, schema: dict[str, Any]) -> None:
    printed = run_cli("schema", db=tmp_path / "runs.db")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == schema
    out = tmp_path / "workflow.schema.json"
    written = run_cli("schema", "-o", str(out), db=tmp_path / "runs.db")
    assert written.returncode == 0, written.stderr
    assert json.loads(out.read_text()) == schema
    missing = run_cli("schema", "-o", str(tmp_path / "nope" / "s.json"), db=tmp_path / "runs.db")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_building_the_schema_imports_no_cloud_sdk() -> None:
    code = (
        "import sys; from podium.cli_authoring import workflow_schema;"
        " from podium.plugins.manager import load_plugins; workflow_schema(load_plugins());"
        " print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'azure')"
        " or m.startswith(('google.genai', 'google.cloud.aiplatform'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
