"""An agent's ``tools:`` as a Bedrock action group: function schemas, run by podium (RETURN_CONTROL).

`podium deploy` gives each managed agent with tools one action group, ``tools``, whose functions
are the agent's tools (parameters and description read from the python signature and docstring)
and whose executor is ``customControl: RETURN_CONTROL``: the agent asks podium to run a function,
and podium's tool loop (agents.py) runs it and sends back the result. An agent whose tools were
removed loses the group. Bedrock's function parameters are typed ``string``, ``number``,
``integer``, ``boolean`` or ``array``: an object parameter travels as JSON text (a string).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podium.core.errors import BadInput
from podium.providers._kit.functions import FunctionCache
from podium.providers._kit.signatures import description, parameters_schema

if TYPE_CHECKING:
    from podium.core.spec import Agent

GROUP = "tools"  # the action group podium's tools live in (the emulator's default for a mock tool)
_TYPES = {"string", "number", "integer", "boolean", "array"}


def functions(agent_name: str, agent: Agent, base_dir: Path) -> list[dict[str, Any]]:
    """The agent's tools as a functionSchema's functions; a tool that cannot be loaded is bad input."""
    cache = FunctionCache(base_dir)
    out = []
    for name, tool in agent.tools.items():
        try:
            fn = cache.load(tool.function)
        except Exception as exc:
            raise BadInput(
                f"cannot load tool '{name}' ({tool.function}) of agent '{agent_name}':"
                f" {type(exc).__name__}: {exc}",
                fix=f"check agents.{agent_name}.tools.{name} (module:function, next to the workflow)",
            ) from None
        schema = parameters_schema(fn)
        required = set(schema.get("required") or [])
        parameters = {}
        for pname, pschema in (schema.get("properties") or {}).items():
            kind = pschema.get("type")
            parameters[pname] = {
                "type": kind if kind in _TYPES else "string",
                "description": f"the {pname} of {name}",
                "required": pname in required,
            }
        entry: dict[str, Any] = {"name": name, "parameters": parameters}
        said = description(fn)
        if said:
            entry["description"] = said[:1200]
        out.append(entry)
    return out


def _same(group: Mapping[str, Any], wanted: list[dict[str, Any]]) -> bool:
    return (
        group.get("actionGroupExecutor") == {"customControl": "RETURN_CONTROL"}
        and (group.get("functionSchema") or {}).get("functions") == wanted
        and group.get("actionGroupState", "ENABLED") == "ENABLED"
    )


def _current(control: Any, agent_id: str) -> dict[str, Any] | None:
    """The draft's ``tools`` action group, in full, or None."""
    pages = control.get_paginator("list_agent_action_groups").paginate(agentId=agent_id, agentVersion="DRAFT")
    for page in pages:
        for summary in page.get("actionGroupSummaries") or []:
            if summary.get("actionGroupName") == GROUP:
                return dict(
                    control.get_agent_action_group(
                        agentId=agent_id, agentVersion="DRAFT", actionGroupId=summary["actionGroupId"]
                    )["agentActionGroup"]
                )
    return None


def in_step(control: Any, agent_id: str, wanted: list[dict[str, Any]]) -> bool:
    """Whether the agent's draft already has exactly the action group `wanted` asks for (none: none)."""
    group = _current(control, agent_id)
    return group is None if not wanted else group is not None and _same(group, wanted)


def sync(control: Any, agent_id: str, wanted: list[dict[str, Any]]) -> str | None:
    """Create, update or delete the draft's ``tools`` action group to match `wanted`; what was done."""
    group = _current(control, agent_id)
    common = {"agentId": agent_id, "agentVersion": "DRAFT"}
    if not wanted:
        if group is None:
            return None
        control.delete_agent_action_group(**common, actionGroupId=group["actionGroupId"])
        return "removed"
    fields = {
        "actionGroupName": GROUP,
        "description": "podium runs these tools (return of control)",
        "actionGroupExecutor": {"customControl": "RETURN_CONTROL"},
        "functionSchema": {"functions": wanted},
        "actionGroupState": "ENABLED",
    }
    if group is None:
        control.create_agent_action_group(**common, **fields)
        return "created"
    if _same(group, wanted):
        return None
    control.update_agent_action_group(**common, actionGroupId=group["actionGroupId"], **fields)
    return "updated"
