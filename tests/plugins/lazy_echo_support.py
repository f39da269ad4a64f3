"""A provider module for `test_lazy_run`: imported when its provider, registered by reference, is used."""

from __future__ import annotations

from podium.core.calls import AgentRequest, AgentResponse, Provider


class LazyEcho(Provider):
    name = "lazy-echo"
    description = "echoes the prompt (a provider registered by reference)"

    async def invoke(self, request: AgentRequest) -> AgentResponse:
        return AgentResponse(text=request.messages[-1].content if request.messages else "")
