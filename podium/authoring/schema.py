"""The JSON Schema of workflow files, from the pydantic spec models and each installed provider's models.

Editors (VS Code's YAML extension, JetBrains, anything speaking yaml-language-server) complete and
check a workflow with it. The spec models are the source; this module adds what the loader accepts
beyond a model's own shape: the short forms (`needs: a`, `output: string`, `approval: true`,
`timeout: 30m`, `tools: {name: module:function}`, `inputs: {topic: string}`), and each installed
provider's settings (`providers.<name>`) and binding (`agents.<agent>.<name>`), so a plugin's keys
are completed too.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from podium.core.spec import Workflow

DIALECT = "https://json-schema.org/draft/2020-12/schema"
DURATION = {
    "type": "string",
    "pattern": r"^\s*\d+(\.\d+)?\s*(s|m|h|d|w)?\s*$",
    "description": "A duration: seconds, or with a unit: 90s, 30m, 2h, 3d, 1w.",
}
INPUT_TYPES = ["string", "integer", "number", "boolean", "object", "array"]


def workflow_schema(
    configs: Mapping[str, type[BaseModel]], bindings: Mapping[str, type[BaseModel] | None]
) -> dict[str, Any]:
    """The schema of a workflow file, for the providers given (their settings and binding models).

    `configs` maps each installed provider to its settings model (`providers.<name>:`), `bindings`
    to the model of an agent's `<name>:` section (None: any mapping).
    """
    schema = Workflow.model_json_schema(by_alias=True)
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    _short_forms(schema, defs)
    _providers(schema, defs, configs, bindings)
    return {
        "$schema": DIALECT,
        "title": "podium workflow",
        "description": "A podium workflow file: agents, and the graph of steps that call them.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def _props(defs: dict[str, Any], model: str) -> dict[str, Any]:
    return defs[model]["properties"]


def _or(prop: dict[str, Any], *alternatives: dict[str, Any]) -> dict[str, Any]:
    """`prop` also accepting `alternatives`; its description and default stay on the whole."""
    keep = {k: prop[k] for k in ("description", "default") if k in prop}
    body = {k: v for k, v in prop.items() if k not in ("description", "default", "title")}
    options = body["anyOf"] if list(body) == ["anyOf"] else [body]
    return {**keep, "anyOf": [*alternatives, *options]}


def _short_forms(schema: dict[str, Any], defs: dict[str, Any]) -> None:
    step, agent, defaults = _props(defs, "Step"), _props(defs, "Agent"), _props(defs, "Defaults")
    one_name = {"type": "string", "description": "One name, as a list of one."}
    step["needs"] = _or(step["needs"], one_name)
    for props in (step, agent, defaults):
        props["fallback"] = _or(props["fallback"], one_name)
    step["output"] = _or(
        step["output"], {"type": "string", "description": "A type name: string, json, … or one of `types:`."}
    )
    step["approval"] = _or(
        step["approval"],
        {"type": "string", "description": "The message to show."},
        {"const": True, "description": "Pause with the default message."},
    )
    step["timeout"] = _or(step["timeout"], DURATION)
    defaults["timeout"] = _or(defaults["timeout"], DURATION)
    approval = _props(defs, "Approval")
    approval["timeout"] = _or(approval["timeout"], DURATION)
    tools = agent["tools"]
    tools["additionalProperties"] = {
        "anyOf": [
            {"type": "string", "pattern": r"^[^:\s]+:[^:\s]+$", "description": "module:function"},
            tools["additionalProperties"],
        ]
    }
    inputs = schema["properties"]["inputs"]
    inputs["additionalProperties"] = {
        "anyOf": [
            {"enum": INPUT_TYPES, "description": "The input's type; it is required."},
            inputs["additionalProperties"],
        ]
    }


def _providers(
    schema: dict[str, Any],
    defs: dict[str, Any],
    configs: Mapping[str, type[BaseModel]],
    bindings: Mapping[str, type[BaseModel] | None],
) -> None:
    settings: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    for name in sorted(configs):
        ref = _embed(defs, configs[name], f"{name}_settings")
        settings[name] = {
            "description": f"Settings of the {name} provider.",
            "anyOf": [{"$ref": ref}, {"type": "null"}],
        }
        model = bindings.get(name)
        if model is not None:
            sections[name] = {
                "$ref": _embed(defs, model, f"{name}_binding"),
                "description": f"Where this agent runs on {name}.",
            }
        else:
            sections[name] = {"type": "object", "description": f"Where this agent runs on {name}."}
    providers = schema["properties"]["providers"]
    providers.pop("additionalProperties", None)
    providers["properties"] = settings
    providers["additionalProperties"] = False
    agent = defs["Agent"]
    agent["properties"].update(sections)
    agent["additionalProperties"] = False
    agent["description"] = (
        "A logical agent. A key named after a provider holds where it runs there"
        f" ({', '.join(sorted(configs)) or 'no provider installed'})."
    )


def _embed(defs: dict[str, Any], model: type[BaseModel], name: str) -> str:
    """`model`'s schema under `$defs/name` (its own `$defs` hoisted, named apart); the `$ref`."""
    own = model.model_json_schema(by_alias=True, ref_template=f"#/$defs/{name}.{{model}}")
    for sub, body in own.pop("$defs", {}).items():
        defs[f"{name}.{sub}"] = body
    defs[name] = own
    return f"#/$defs/{name}"


def missing_descriptions(schema: Mapping[str, Any]) -> list[str]:
    """Where a property has no description (every field should say what it is)."""
    missing: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if isinstance(prop, dict) and not prop.get("description"):
                    missing.append(f"{where}.{name}")
            for key, value in node.items():
                walk(value, f"{where}.{key}" if key != "properties" else where)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")

    walk(copy.deepcopy(dict(schema)), "")
    return missing
