"""One agent call through the project's Responses API: a model deployment, or a Foundry agent by name.

A **model deployment** is called statelessly: the conversation so far as ``input``, the agent's
instructions, its tools as function tools, podium's options. A **Foundry agent** is called with an
``agent_reference`` (name, and version when pinned) in a conversation of its own per run and step
(see `conversations`), its instructions and tools being the agent's. Either may answer with
``function_call`` items: podium runs each tool the agent declares (the kit's tool loop) and sends
``function_call_output`` items back, until the agent answers (at most the step's ``max_tool_rounds``
rounds); a tool error (arguments that do not match, a rejected call) is an output the agent reads.
Every call carries ``metadata`` naming podium's run, step and agent (an emulator's scripted brain
answers by them; in Azure they show on the stored response).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from podium.core.calls import AgentRequest, AgentResponse, Usage
from podium.core.errors import TransientError
from podium.providers._kit.signatures import description, parameters_schema
from podium.providers._kit.threads import SdkCall
from podium.providers._kit.tools import Toolbox, ToolLoop, tool_error
from podium.providers.azure.binding import Deployment, FoundryAgent, Target
from podium.providers.azure.errors import PROVIDER, TABLE

if TYPE_CHECKING:
    from podium.providers.azure.conversations import Conversations

TAG_RUN, TAG_STEP, TAG_AGENT, TAG_SESSION = "podium_run", "podium_step", "podium_agent", "podium_session"

# podium's options by their Responses names; the rest go in the body as given
_OPTIONS = {
    "max_tokens": "max_output_tokens",
    "max_output_tokens": "max_output_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
}


def podium_metadata(request: AgentRequest) -> dict[str, str]:
    """Run, step and agent as Responses ``metadata`` (values at most 512 characters)."""
    return {
        TAG_RUN: request.run_id[:512],
        TAG_STEP: request.step[:512],
        TAG_AGENT: request.agent[:512],
    }


def function_tools(request: AgentRequest, toolbox: Toolbox) -> list[dict[str, Any]]:
    """The agent's declared tools as Responses function tools, their parameters read from the signature."""
    tools = []
    for name in request.tools:
        tool = toolbox.find(request, name)
        if tool is None:  # pragma: no cover - find returns every declared name
            continue
        entry: dict[str, Any] = {
            "type": "function",
            "name": name,
            "parameters": parameters_schema(tool.fn),
            "strict": False,
        }
        if about := description(tool.fn):
            entry["description"] = about
        tools.append(entry)
    return tools


def _message(role: str, content: str) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": content}


def _conversation(
    client: Any, request: AgentRequest, conversations: Conversations, *, renew: bool = False
) -> tuple[str, bool]:
    """The step's conversation (remembered, else created and remembered at once); True when new."""
    if not renew:
        known = conversations.get(request.session_id)
        if known:
            return known, False
    made = client.conversations.create(
        metadata={**podium_metadata(request), TAG_SESSION: request.session_id[:512]}
    )
    conversations.remember(request.session_id, made.id)
    return str(made.id), True


def _failed(reply: Any, where: str) -> None:
    """A response that came back ``failed`` as the podium error its code says."""
    error = getattr(reply, "error", None)
    code = str(getattr(error, "code", "") or "")
    message = str(getattr(error, "message", "") or "the response failed")
    raise TABLE.classify(f"{where}: {code or 'failed'}: {message}", code=code or None)


def respond(
    client: Any,
    request: AgentRequest,
    target: Target,
    call: SdkCall,
    toolbox: Toolbox,
    conversations: Conversations,
    where: str,
) -> AgentResponse:
    """The call, and again with each tool's result while the agent asks for tools."""
    import openai

    started = time.perf_counter()
    options: dict[str, Any] = {}
    if request.timeout is not None:  # a step's timeout ends the SDK call too, freeing its thread
        read = getattr(client.timeout, "read", client.timeout)
        limit = request.timeout + 1.0
        options["timeout"] = min(float(read), limit) if isinstance(read, int | float) else limit
    if call.headers:  # the call's traceparent on each of its requests: conversation, every round
        options["default_headers"] = call.headers
    if options:
        client = client.with_options(**options)
    kwargs: dict[str, Any] = {"metadata": podium_metadata(request)}
    conversation: str | None = None
    fresh = renewed = False
    messages = [_message(m.role, m.content) for m in request.messages]
    if isinstance(target, Deployment):
        kwargs["model"] = target.model
        if request.instructions:
            kwargs["instructions"] = request.instructions
        if request.tools:
            kwargs["tools"] = function_tools(request, toolbox)
        extra: dict[str, Any] = {}
        for key, value in request.options.items():
            if key in _OPTIONS:
                kwargs[_OPTIONS[key]] = value
            else:
                extra[key] = value
        if extra:
            kwargs["extra_body"] = extra
        sent: list[dict[str, Any]] = messages
    else:
        reference: dict[str, Any] = {"type": "agent_reference", "name": target.name}
        if target.version:
            reference["version"] = target.version
        kwargs["extra_body"] = {"agent_reference": reference}
        conversation, fresh = _conversation(client, request, conversations)
        # a conversation already holds what was said: send only what is new (a repair's request)
        sent = messages if fresh else messages[-1:]
    usage = Usage(requests=0)
    response_ids: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    reply: Any = None
    rounds = 0
    tools = toolbox.loop(request, loop=call.loop, where=where)
    while True:
        rounds += 1
        try:
            reply = client.responses.create(
                input=sent, **kwargs, **({"conversation": conversation} if conversation else {})
            )
        except openai.NotFoundError:
            if conversation is None or fresh or renewed or rounds > 1:
                raise
            # the remembered conversation is gone (deleted, expired): the step's starts anew, once
            conversation, fresh = _conversation(client, request, conversations, renew=True)
            renewed, sent, rounds = True, messages, rounds - 1
            continue
        response_ids.append(str(reply.id))
        usage = usage + _usage(reply)
        if reply.status == "failed":
            _failed(reply, where)
        asked = [item for item in reply.output or [] if getattr(item, "type", None) == "function_call"]
        if not asked:
            break
        tools.round(usage.model_copy(update={"requests": rounds}))
        outputs = [_run_tool(item, tool_calls, tools, where) for item in asked]
        if conversation is None:  # stateless: the whole exchange again, with the tools' results
            sent = [*sent, *(item.model_dump(exclude_none=True) for item in reply.output), *outputs]
        else:  # the conversation holds the function calls; send their results
            sent = outputs
    text = reply.output_text
    if not isinstance(text, str):  # pragma: no cover - the SDK always gives a string
        raise TransientError(f"{where} sent a reply without text", provider=PROVIDER)
    native: dict[str, Any] = {"response_ids": response_ids, "status": reply.status}
    if isinstance(target, FoundryAgent):
        native.update(agent=target.name, agent_version=target.version, bound_by=target.source)
        native["conversation"] = conversation
    else:
        native["deployment"] = target.model
    if reply.incomplete_details is not None:
        native["incomplete"] = reply.incomplete_details.model_dump(exclude_none=True)
    if tool_calls:
        native["tool_calls"] = tool_calls
    return AgentResponse(
        text=text,
        usage=Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            requests=rounds,
        ),
        model=reply.model or request.model,
        latency_ms=(time.perf_counter() - started) * 1000,
        response_id=str(reply.id),
        session_id=conversation or request.session_id,
        native=native,
    )


def _usage(reply: Any) -> Usage:
    """One response's usage: cached input tokens apart from the rest."""
    usage = reply.usage
    if usage is None:
        return Usage()
    details = usage.input_tokens_details
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    total_in = int(usage.input_tokens or 0)
    return Usage(
        input_tokens=max(0, total_in - cached),
        cache_read_tokens=min(cached, total_in),
        output_tokens=int(usage.output_tokens or 0),
    )


def _run_tool(item: Any, tool_calls: list[dict[str, Any]], tools: ToolLoop, where: str) -> dict[str, Any]:
    """A ``function_call`` item run by the kit; its result as a ``function_call_output`` item."""
    name = str(item.name)
    try:
        arguments = json.loads(item.arguments or "{}")
    except ValueError:
        arguments = None
    if not isinstance(arguments, Mapping):  # the model's mistake: it reads why and may call again
        done = tool_error(
            name,
            {},
            f"the arguments are not a JSON object: {str(item.arguments)[:200]!r}. Call it again"
            " with a JSON object of its parameters.",
        )
    else:
        done = tools.run(name, arguments)
    tool_calls.append(done.record(call_id=item.call_id))
    return {"type": "function_call_output", "call_id": item.call_id, "output": done.text}
