"""An agent's ``tools:`` as a Bedrock action group: function schemas, run by podium (RETURN_CONTROL).

`podium deploy` gives each managed agent with tools its action groups: ``tools`` for a tool named
plainly, ``clock`` for one named ``clock.get_time``. Their functions are the agent's tools
(parameters and description read from the python signature and docstring) and their executor is
``customControl: RETURN_CONTROL``: the agent asks podium to run a function, and podium's tool
loop (agents.py) runs it and sends back the result. A group no tool names any more is removed.
Bedrock's function parameters are typed ``string``, ``number``, ``integer``, ``boolean`` or
``array``: an object parameter travels as JSON text (a string).
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


def groups(agent_name: str, agent: Agent, base_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The agent's tools as action groups' functions, by group: a tool named ``group.function`` is in
    that group, any other in ``tools``. A tool that cannot be loaded is bad input."""
    cache = FunctionCache(base_dir)
    out: dict[str, list[dict[str, Any]]] = {}
    for name, tool in agent.tools.items():
        group, _, function = name.rpartition(".")
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
                "description": f"the {pname} of {function}",
                "required": pname in required,
            }
        entry: dict[str, Any] = {"name": function, "parameters": parameters}
        said = description(fn)
        if said:
            entry["description"] = said[:1200]
        out.setdefault(group or GROUP, []).append(entry)
    return out


def _same(group: Mapping[str, Any], wanted: list[dict[str, Any]]) -> bool:
    return (
        group.get("actionGroupExecutor") == {"customControl": "RETURN_CONTROL"}
        and (group.get("functionSchema") or {}).get("functions") == wanted
        and group.get("actionGroupState", "ENABLED") == "ENABLED"
    )


def _current(control: Any, agent_id: str) -> dict[str, dict[str, Any]]:
    """The draft's action groups, in full, by name."""
    pages = control.get_paginator("list_agent_action_groups").paginate(agentId=agent_id, agentVersion="DRAFT")
    return {
        summary["actionGroupName"]: dict(
            control.get_agent_action_group(
                agentId=agent_id, agentVersion="DRAFT", actionGroupId=summary["actionGroupId"]
            )["agentActionGroup"]
        )
        for page in pages
        for summary in page.get("actionGroupSummaries") or []
    }


def in_step(control: Any, agent_id: str, wanted: dict[str, list[dict[str, Any]]]) -> bool:
    """Whether the agent's draft already has exactly the action groups `wanted` asks for."""
    current = _current(control, agent_id)
    return current.keys() == wanted.keys() and all(_same(current[n], f) for n, f in wanted.items())


def sync(control: Any, agent_id: str, wanted: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Create, update or delete the draft's action groups to match `wanted`; what was done, per group."""
    current = _current(control, agent_id)
    common = {"agentId": agent_id, "agentVersion": "DRAFT"}
    done = []
    for name, group in current.items():
        if name not in wanted:
            control.delete_agent_action_group(**common, actionGroupId=group["actionGroupId"])
            done.append(f"removed action group {name}")
    for name, functions in wanted.items():
        fields = {
            "actionGroupName": name,
            "description": "podium runs these tools (return of control)",
            "actionGroupExecutor": {"customControl": "RETURN_CONTROL"},
            "functionSchema": {"functions": functions},
            "actionGroupState": "ENABLED",
        }
        group = current.get(name)
        if group is None:
            control.create_agent_action_group(**common, **fields)
            done.append(f"created action group {name} ({len(functions)} function(s))")
        elif not _same(group, functions):
            control.update_agent_action_group(**common, actionGroupId=group["actionGroupId"], **fields)
            done.append(f"updated action group {name} ({len(functions)} function(s))")
    return done
