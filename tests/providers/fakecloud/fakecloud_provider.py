"""FakeCloud's provider: a whole cloud on the kit — config, binding, translation, error table, deploy.

FakeCloud is a tiny JSON REST API (see `fakecloud_emulator.py`): ``POST /v1/agents/{id}:ask`` runs
a managed agent (which may ask for a tool), ``POST /v1/models/{model}:generate`` a bare model, and
``/v1/agents`` creates and updates agents. Its "SDK" is a blocking httpx.Client, as a cloud's SDK
is; the kit runs it in threads, classifies its errors, runs its tools and keeps its lock file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from podium.core.calls import (
    AgentRequest,
    AgentResponse,
    Deployment,
    Emulator,
    EmulatorOptions,
    Provider,
    ProviderConfig,
    ProviderEnv,
    Usage,
)
from podium.core.errors import TransientError
from podium.providers._kit import lock
from podium.providers._kit.deploying import render_instructions
from podium.providers._kit.errors import ErrorTable, retry_after_from
from podium.providers._kit.propagation import call_headers
from podium.providers._kit.threads import SdkCall, SdkThreads
from podium.providers._kit.tools import Toolbox

if TYPE_CHECKING:
    from podium.core.spec import Workflow

NAME = "fakecloud"
ERRORS = ErrorTable.of(
    NAME,
    throttled={"RATE_LIMITED"},
    transient={"UNAVAILABLE"},
    timeout={"DEADLINE_EXCEEDED"},
    auth={"UNAUTHENTICATED"},
    auth_fix="set providers.fakecloud.api_key",
)


class FakeCloudConfig(ProviderConfig):
    endpoint_url: str = "https://fakecloud.invalid"
    api_key: str | None = None
    project: str = "demo"


class FakeCloudBinding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: str | None = Field(None, pattern=r"^ag-[0-9]+$")
    model: str | None = None


class FakeCloudEmulatorOptions(EmulatorOptions):
    project: str = Field("demo", description="The project the emulator answers as.")


class FakeCloudProvider(Provider):
    name: ClassVar[str] = NAME
    Config = FakeCloudConfig
    Binding = FakeCloudBinding
    description: ClassVar[str] = "FakeCloud: a cloud made in the tests from podium's provider kit"
    can_deploy = True
    emulator_options = FakeCloudEmulatorOptions

    def __init__(self, config: FakeCloudConfig, env: ProviderEnv) -> None:
        super().__init__(config, env)
        self.config: FakeCloudConfig = config
        self.threads = SdkThreads(8, name=NAME)
        self.tools = Toolbox(env.base_dir, provider=NAME)
        self.http = httpx.Client(
            base_url=config.endpoint_url, headers={"Authorization": f"Bearer {config.api_key}"}
        )
        self.target = {"endpoint_url": config.endpoint_url, "project": config.project}

    @functools.cached_property
    def deployed(self) -> dict[str, dict[str, Any]]:
        return lock.deployed(self.env.base_dir, self.env.workflow, NAME, self.target)

    def _post(
        self, path: str, body: dict[str, Any], where: str, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        try:
            reply = self.http.post(path, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise TransientError(f"{where}: {exc}", provider=NAME) from None
        if reply.status_code >= 400:
            error = reply.json().get("error", {})
            raise ERRORS.classify(
                f"{where}: {error.get('code')}: {error.get('message')}",
                status=reply.status_code,
                code=error.get("code"),
                retry_after=retry_after_from(reply.headers),
            )
        return dict(reply.json())

    async def invoke(self, request: AgentRequest) -> AgentResponse:
        binding = self.binding(request)
        # call.headers: the call's traceparent, sent on each of its requests
        return await self.threads.run(
            lambda call: self._call(request, binding, call), headers=call_headers(request)
        )

    def _call(self, request: AgentRequest, binding: Any, call: SdkCall) -> AgentResponse:
        tags = {"step": request.step, "agent": request.agent, "run": request.run_id}
        agent_id = binding.agent_id or self.deployed.get(request.agent, {}).get("id")
        if agent_id is None:
            body = {"prompt": request.prompt, "system": request.instructions, "tags": tags}
            path = f"/v1/models/{binding.model or request.model}:generate"
            reply = self._post(path, body, NAME, call.headers)
            return _response(reply, rounds=1)
        body = {"input": request.prompt, "session": request.session_id, "tags": tags}
        where, calls = f"{NAME} agent {agent_id}", []
        # the kit's tool loop: max_tool_rounds, arguments checked, finished calls replayed, approvals
        tools = self.tools.loop(request, loop=call.loop, where=where)
        while True:
            reply = self._post(f"/v1/agents/{agent_id}:ask", body, where, call.headers)
            if "tool_call" not in reply:
                rounds = tools.rounds + 1
                return _response(reply, rounds=rounds, native={"agent_id": agent_id, "tool_calls": calls})
            tools.round()
            asked = reply["tool_call"]
            done = tools.run(asked["name"], asked["args"])
            calls.append(done.record())
            body = {"session": request.session_id, "tool_result": done.text, "tags": tags}

    async def aclose(self) -> None:
        self.http.close()
        self.threads.close()

    def deploy(self, workflow: Workflow, *, echo: Callable[[str], None] | None = None) -> list[Deployment]:
        known = lock.deployed(workflow.base_dir, workflow.name, NAME, self.target)
        done: list[Deployment] = []
        for name, agent in workflow.agents.items():
            if agent.function is not None:
                continue
            body = {
                "name": f"{workflow.name}-{name}",
                "model": self.resolve_model(agent.model),
                "instructions": render_instructions(workflow, name, agent, cloud="FakeCloud"),
            }
            old = known.get(name, {}).get("id")
            exists = old is not None and self.http.get(f"/v1/agents/{old}").status_code == 200
            path = f"/v1/agents/{old}" if exists else "/v1/agents"
            made = self._post(path, body, f"{NAME} deploy")
            done.append(Deployment(agent=name, action="updated" if exists else "created", ids=made))
            if echo is not None:
                echo(f"{done[-1].action} agent {name}: {made['id']}")
        agents = {**known, **{d.agent: d.ids for d in done}}
        lock.record(workflow.base_dir, workflow.name, NAME, self.target, agents)
        return done

    @classmethod
    def emulator(cls, env: ProviderEnv, *, port: int = 0, options: EmulatorOptions | None = None) -> Emulator:
        from fakecloud_emulator import FakeCloudEmulator

        project = options.project if isinstance(options, FakeCloudEmulatorOptions) else "demo"
        return FakeCloudEmulator.for_mock(env.mock, port=port, project=project)


def _response(reply: dict[str, Any], *, rounds: int, native: dict[str, Any] | None = None) -> AgentResponse:
    usage = reply.get("usage") or {}
    return AgentResponse(
        text=reply["output"],
        usage=Usage(input_tokens=usage.get("in", 0), output_tokens=usage.get("out", 0), requests=rounds),
        native=native or {},
    )
