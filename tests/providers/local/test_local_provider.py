"""The local provider: scripted replies, python functions, a real OpenAI-compatible endpoint."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import podium
from podium.core.calls import AgentRequest, AgentResponse, Message, ProviderEnv, Usage
from podium.core.errors import (
    AgentFailed,
    AuthError,
    CallTimeout,
    InvalidRequest,
    StepError,
    Throttled,
    TransientError,
)
from podium.core.events import EventType
from podium.core.functions import import_function
from podium.core.spec import Workflow
from podium.core.store import MemoryStore
from podium.core.tracecontext import call_key, traceparent
from podium.providers.local.provider import LocalConfig, LocalProvider

KEY_ENV = "PODIUM_TEST_LOCAL_KEY"


def mock_of(entries: dict[str, Any]) -> dict[str, Any]:
    """Mock entries parsed exactly as a workflow file's `mock:` section is."""
    return Workflow.model_validate({"name": "w", "steps": {"s": {"agent": "a"}}, "mock": entries}).mock


def provider(tmp_path: Path, mock: dict[str, Any] | None = None, **config: Any) -> LocalProvider:
    return LocalProvider(
        LocalConfig(**config),
        ProviderEnv(workflow="w", base_dir=tmp_path, mock=mock_of(mock or {})),
    )


def request(
    prompt: str = "hello", *, step: str = "s", agent: str = "a", attempt: int = 1, **kw: Any
) -> AgentRequest:
    return AgentRequest(
        run_id="run-1",
        step=step,
        agent=agent,
        attempt=attempt,
        provider="local",
        messages=[Message(role="user", content=prompt)],
        idempotency_key=f"run-1:{step}::{attempt}",
        session_id=f"run-1-{step}",
        **kw,
    )


# --- scripted replies -----------------------------------------------------------------------


async def test_a_reply_keyed_by_step_wins_over_one_keyed_by_agent(tmp_path):
    p = provider(tmp_path, {"s": "by step", "a": "by agent"})
    assert (await p.invoke(request(step="s", agent="a"))).text == "by step"
    assert (await p.invoke(request(step="other", agent="a"))).text == "by agent"


async def test_a_sequence_replays_in_order_and_its_last_reply_repeats(tmp_path):
    p = provider(tmp_path, {"s": ["one", "two", "three"], "a": ["x", "y"]})
    got = [(await p.invoke(request())).text for _ in range(5)]
    assert got == ["one", "two", "three", "three", "three"]
    # each key keeps its own place in its sequence
    assert (await p.invoke(request(step="t"))).text == "x"
    assert (await p.invoke(request(step="t"))).text == "y"


async def test_match_rules_are_searched_in_the_prompt_before_the_sequence(tmp_path):
    p = provider(
        tmp_path,
        {
            "s": [
                {"match": "(?i)weather", "reply": "sunny"},
                {"match": r"^stock \w+$", "reply": "up"},
                "first",
                "second",
            ]
        },
    )
    assert (await p.invoke(request("What's the WEATHER like?"))).text == "sunny"
    assert (await p.invoke(request("stock ACME"))).text == "up"
    assert (await p.invoke(request("stock ACME today"))).text == "first"
    assert (await p.invoke(request("weather again"))).text == "sunny"  # rules are reusable
    assert (await p.invoke(request("anything"))).text == "second"


async def test_no_matching_rule_and_no_sequence_is_an_invalid_request_with_a_fix(tmp_path):
    p = provider(tmp_path, {"s": [{"match": "^yes$", "reply": "ok"}]})
    with pytest.raises(InvalidRequest) as info:
        await p.invoke(request("no"))
    assert "'s'" in info.value.message
    assert info.value.fix and "match" in info.value.fix


async def test_a_scalar_or_json_reply_becomes_text(tmp_path):
    p = provider(
        tmp_path,
        {"s": {"reply": {"title": "Ünïcode", "tags": ["a", 1]}}, "n": 42, "b": True},
    )
    r = await p.invoke(request())
    assert json.loads(r.text) == {"title": "Ünïcode", "tags": ["a", 1]}
    assert "Ünïcode" in r.text
    assert (await p.invoke(request(step="n"))).text == "42"
    assert (await p.invoke(request(step="b"))).text in ("true", "True")


async def test_scripted_usage_is_reported_exactly(tmp_path):
    usage = {
        "input_tokens": 120,
        "output_tokens": 30,
        "cache_read_tokens": 7,
        "cache_write_tokens": 2,
    }
    p = provider(tmp_path, {"s": {"reply": "done", "usage": usage}})
    r = await p.invoke(request(model="m-1"))
    assert r.usage == Usage(**usage, requests=1)
    assert r.text == "done"
    assert r.model == "m-1"
    assert r.native == {"mock": "s"}


async def test_usage_is_estimated_when_not_scripted(tmp_path):
    p = provider(tmp_path, {"s": "a short reply", "t": "x" * 400})
    short = await p.invoke(request("hi"))
    assert short.usage.input_tokens > 0
    assert short.usage.output_tokens > 0
    assert short.usage.requests == 1
    long = await p.invoke(request("hi " * 200, step="t", instructions="Be terse. " * 20))
    assert long.usage.input_tokens > short.usage.input_tokens
    assert long.usage.output_tokens > short.usage.output_tokens
    assert long.usage.input_tokens >= 150  # ~4 characters a token over instructions + prompt


async def test_partly_scripted_usage_estimates_the_rest(tmp_path):
    p = provider(tmp_path, {"s": {"reply": "some reply text", "usage": {"output_tokens": 9}}})
    r = await p.invoke(request("a prompt of some length"))
    assert r.usage.output_tokens == 9
    assert r.usage.input_tokens > 0


@pytest.mark.parametrize(
    ("kind", "error", "retryable"),
    [
        ("throttled", Throttled, True),
        ("transient", TransientError, True),
        ("invalid_request", InvalidRequest, False),
        ("auth", AuthError, False),
    ],
)
async def test_scripted_errors_map_onto_podium_errors(tmp_path, kind, error, retryable):
    p = provider(tmp_path, {"s": {"error": kind, "retry_after": 2.5}})
    with pytest.raises(error) as info:
        await p.invoke(request())
    assert type(info.value) is error
    assert info.value.retryable is retryable
    assert info.value.kind == kind
    assert info.value.retry_after == 2.5
    assert info.value.provider == "local"


async def test_a_scripted_error_then_a_reply_models_a_recovering_service(tmp_path):
    p = provider(tmp_path, {"s": [{"error": "throttled", "retry_after": 1}, "recovered"]})
    with pytest.raises(Throttled) as info:
        await p.invoke(request())
    assert info.value.retry_after == 1.0
    assert (await p.invoke(request(attempt=2))).text == "recovered"


async def test_scripted_latency_is_waited_and_reported(tmp_path):
    p = provider(tmp_path, {"s": {"reply": "slow", "latency": 0.15}})
    started = time.perf_counter()
    r = await p.invoke(request())
    assert time.perf_counter() - started >= 0.14
    assert r.latency_ms == pytest.approx(150)


async def test_scripted_latency_runs_calls_concurrently(tmp_path, monkeypatch):
    # count the calls waiting out their latency at once (a wall-clock bound would break on a
    # loaded machine): ten calls gathered together all wait side by side
    real_sleep, waiting, most = asyncio.sleep, 0, 0

    async def counted_sleep(delay: float, *args: Any) -> Any:
        nonlocal waiting, most
        waiting += 1
        most = max(most, waiting)
        try:
            return await real_sleep(delay, *args)
        finally:
            waiting -= 1

    monkeypatch.setattr(asyncio, "sleep", counted_sleep)
    p = provider(tmp_path, {"s": {"reply": "slow", "latency": 0.15}})
    replies = await asyncio.gather(*(p.invoke(request()) for _ in range(10)))
    assert [r.text for r in replies] == ["slow"] * 10
    assert most == 10


async def test_no_function_mock_or_endpoint_is_an_invalid_request_with_a_fix(tmp_path):
    p = provider(tmp_path, {"other_step": "x"})
    with pytest.raises(InvalidRequest) as info:
        await p.invoke(request(step="draft", agent="writer"))
    err = info.value
    assert "writer" in err.message
    assert err.fix and "mock" in err.fix and "base_url" in err.fix and "draft" in err.fix
    assert err.provider == "local"
    assert not err.retryable


async def test_use_mock_false_ignores_the_script(tmp_path):
    p = provider(tmp_path, {"s": "scripted"}, use_mock=False)
    with pytest.raises(InvalidRequest):
        await p.invoke(request())


# --- python functions -----------------------------------------------------------------------

FUNCTIONS = """
import asyncio
import dataclasses
import datetime
import decimal
import enum
import threading
from podium.core.calls import AgentResponse, Usage
from podium.core.errors import TransientError

seen = []

def upper(prompt):
    return prompt.upper()

def where(prompt):
    return threading.current_thread() is threading.main_thread()

async def slow_upper(prompt):
    await asyncio.sleep(0)
    return prompt.upper() + "!"

def picky(prompt, inputs, step):
    seen.append(("picky", prompt, inputs, step))
    return {"prompt": prompt, "inputs": inputs, "step": step}

def everything(prompt, **context):
    seen.append(("everything", prompt, context))
    return sorted(context)

def full(prompt):
    return AgentResponse(
        text="from fn", usage=Usage(input_tokens=11, output_tokens=5), response_id="fn-1",
        native={"k": "v"},
    )

def nothing(prompt):
    return None

def broken(prompt):
    raise ValueError("bad value")

def flaky(prompt):
    raise TransientError("try again", retry_after=0.5)

class AsyncCallable:
    async def __call__(self, prompt):
        return "awaited " + prompt

def exits(prompt):
    raise SystemExit(3)

def lines(prompt):
    yield prompt

def pairs(prompt):
    return {("a", "b"): 1}

def blob(prompt):
    return prompt.encode()

class Colour(enum.Enum):
    RED = "red"

@dataclasses.dataclass
class Point:
    x: int
    at: datetime.date

def rich(prompt):
    return {"colour": Colour.RED, "point": Point(1, datetime.date(2026, 1, 2)), "tags": {"t"},
            "price": decimal.Decimal("1.5")}

async_callable = AsyncCallable()
"""


@pytest.fixture
def fn_module(tmp_path) -> str:
    name = f"podium_test_agents_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(FUNCTIONS, encoding="utf-8")
    return name


def fn_request(module: str, fn: str, prompt: Any = "hi", **context: Any) -> AgentRequest:
    ctx = {"prompt": prompt, "inputs": {"topic": "tea"}, "steps": {"up": "UP"}, "step": "s",
           "run_id": "run-1", "agent": "a", **context}  # fmt: skip
    text = prompt if isinstance(prompt, str) else json.dumps(prompt)
    return request(text, function=f"{module}:{fn}", context=ctx)


async def test_a_sync_function_agent_runs_in_a_thread(tmp_path, fn_module):
    p = provider(tmp_path, {"s": "the mock must not win over a function"})
    r = await p.invoke(fn_request(fn_module, "upper", "quiet"))
    assert r.text == "QUIET"
    assert r.usage == Usage()
    assert r.latency_ms is not None and r.latency_ms >= 0
    assert (await p.invoke(fn_request(fn_module, "where"))).output is False


async def test_an_async_function_agent_is_awaited(tmp_path, fn_module):
    p = provider(tmp_path)
    assert (await p.invoke(fn_request(fn_module, "slow_upper", "go"))).text == "GO!"
    assert (await p.invoke(fn_request(fn_module, "async_callable", "x"))).text == "awaited x"


async def test_a_function_gets_only_the_keyword_arguments_it_accepts(tmp_path, fn_module):
    import importlib

    p = provider(tmp_path)
    r = await p.invoke(fn_request(fn_module, "picky", {"structured": [1, 2]}))
    assert r.output == {"prompt": {"structured": [1, 2]}, "inputs": {"topic": "tea"}, "step": "s"}
    assert r.text is None

    r = await p.invoke(fn_request(fn_module, "everything", "p", item="i1", index=0))
    assert r.output == ["agent", "index", "inputs", "item", "run_id", "step", "steps"]
    module = importlib.import_module(import_function(f"{fn_module}:everything", tmp_path).__module__)
    assert module.seen[-1] == (
        "everything",
        "p",
        {"inputs": {"topic": "tea"}, "steps": {"up": "UP"}, "step": "s", "run_id": "run-1",
         "agent": "a", "item": "i1", "index": 0},
    )  # fmt: skip


async def test_a_function_returning_an_agent_response_passes_through(tmp_path, fn_module):
    r = await provider(tmp_path).invoke(fn_request(fn_module, "full"))
    assert r.text == "from fn"
    assert r.usage == Usage(input_tokens=11, output_tokens=5)
    assert (r.response_id, r.native) == ("fn-1", {"k": "v"})


async def test_a_function_returning_none_gives_no_value(tmp_path, fn_module):
    r = await provider(tmp_path).invoke(fn_request(fn_module, "nothing"))
    assert r.value is None


async def test_a_function_that_raises_is_an_agent_failure(tmp_path, fn_module):
    with pytest.raises(AgentFailed) as info:
        await provider(tmp_path).invoke(fn_request(fn_module, "broken"))
    assert "ValueError" in info.value.message and "bad value" in info.value.message
    assert info.value.fix
    assert not info.value.retryable


async def test_a_function_raising_a_podium_error_keeps_it(tmp_path, fn_module):
    with pytest.raises(TransientError) as info:
        await provider(tmp_path).invoke(fn_request(fn_module, "flaky"))
    assert info.value.retry_after == 0.5


async def test_a_function_that_cannot_be_loaded_is_an_invalid_request(tmp_path, fn_module):
    with pytest.raises(InvalidRequest, match="cannot load function"):
        await provider(tmp_path).invoke(fn_request(fn_module, "no_such_function"))


async def test_a_function_that_exits_or_returns_what_is_not_json_fails_its_step_and_podium_goes_on(
    tmp_path, fn_module
):
    steps = ["exits", "lines", "pairs", "blob", "rich"]
    wf = Workflow.model_validate(
        {
            "name": "fns",
            "defaults": {"retry": {"attempts": 1}},
            "agents": {name: {"function": f"{fn_module}:{name}"} for name in steps},
            "steps": {name: {"agent": name, "prompt": "p"} for name in steps},
        }
    )
    wf._path = tmp_path / "flow.yaml"
    run = await podium.arun(wf, {}, store=MemoryStore())  # sys.exit(3) once ended podium itself
    assert run.status == "failed"
    said = {name: (s.status, s.error.kind if s.error else None) for name, s in run.steps.items()}
    assert said == {
        **{name: ("failed", "agent_error") for name in ("exits", "lines", "pairs", "blob")},
        "rich": ("succeeded", None),
    }
    assert run.steps["exits"].error.message == f"{fn_module}:exits called sys.exit(3)"
    for name, why in [
        ("lines", "generator is not JSON"),  # once stored as "<generator object ...>", a success
        ("pairs", "keys must be str"),  # once an internal error
        ("blob", "bytes is not JSON (decode it to text)"),
    ]:
        assert run.steps[name].error.message.startswith(f"the reply is not a JSON value: {why}")
    assert run.steps["rich"].output == {
        "colour": "red",
        "point": {"x": 1, "at": "2026-01-02"},
        "tags": ["t"],
        "price": 1.5,
    }


async def test_function_agents_run_inside_a_workflow(tmp_path, fn_module):
    wf = Workflow.model_validate(
        {
            "name": "fns",
            "inputs": {"topic": "string"},
            "agents": {
                "shout": {"function": f"{fn_module}:upper"},
                "pick": {"function": f"{fn_module}:picky"},
            },
            "steps": {
                "up": {"agent": "shout", "prompt": "about {{ inputs.topic }}"},
                "use": {"agent": "pick", "prompt": "{{ steps.up.output }}", "needs": "up"},
            },
        }
    )
    wf._path = tmp_path / "flow.yaml"  # functions are found next to the workflow file
    run = await podium.arun(wf, {"topic": "tea"}, store=MemoryStore())
    assert run.ok, run.error
    assert run.steps["up"].output == "ABOUT TEA"
    assert run.steps["use"].output == {
        "prompt": "ABOUT TEA",
        "inputs": {"topic": "tea"},
        "step": "use",
    }


# --- the OpenAI-compatible endpoint, a real HTTP server on 127.0.0.1 --------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict → JSON; bytes → sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def completion(
    text: str = "hello from the endpoint",
    *,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    cached: int | None = 30,
    model: str = "served-model-2024",
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
        "object": "chat.completion",
        "created": 1764150000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage,
    }


class ChatServer:
    """A minimal OpenAI-compatible chat completions server that records what it is sent."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                state.requests.append(
                    Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                if self.path != "/v1/chat/completions":
                    reply = Reply(404, {"error": {"message": f"no route {self.path}"}})
                else:
                    reply = state.replies.popleft() if state.replies else Reply(200, completion())
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def answer(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def reset(self) -> None:
        self.requests.clear()
        self.replies.clear()

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def _shared_server() -> Iterator[ChatServer]:
    with ChatServer() as s:
        yield s


@pytest.fixture
def server(_shared_server: ChatServer) -> ChatServer:
    _shared_server.reset()
    return _shared_server


@pytest.fixture
def api_key(monkeypatch) -> str:
    monkeypatch.setenv(KEY_ENV, "test-key")
    return "test-key"


async def chat(tmp_path: Path, server: ChatServer, req: AgentRequest, **config: Any) -> AgentResponse:
    p = provider(tmp_path, base_url=server.base_url, api_key_env=KEY_ENV, **config)
    try:
        return await p.invoke(req)
    finally:
        await p.aclose()


async def test_the_endpoint_gets_model_instructions_prompt_and_headers(tmp_path, server, api_key):
    req = request(
        "Summarise: tea ☕",
        model="gpt-test-mini",
        instructions="You are terse.",
        options={"temperature": 0.2, "max_tokens": 64},
    )
    r = await chat(tmp_path, server, req)

    (sent,) = server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.body == {
        "model": "gpt-test-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Summarise: tea ☕"},
        ],
        "temperature": 0.2,
        "max_tokens": 64,
    }
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.headers["idempotency-key"] == "run-1:s::1"
    assert sent.headers["content-type"].startswith("application/json")
    assert "traceparent" not in sent.headers  # the request has none

    assert r.text == "hello from the endpoint"
    assert r.model == "served-model-2024"
    assert r.response_id.startswith("chatcmpl-")
    assert r.latency_ms is not None and r.latency_ms > 0


async def test_the_endpoint_gets_the_calls_traceparent(tmp_path, server):
    traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await chat(tmp_path, server, request(traceparent=traced))
    (sent,) = server.requests
    assert sent.headers["traceparent"] == traced


async def test_endpoint_usage_maps_cached_prompt_tokens_to_cache_reads(tmp_path, server):
    server.answer(Reply(200, completion(prompt_tokens=1000, completion_tokens=250, cached=600)))
    r = await chat(tmp_path, server, request())
    assert r.usage == Usage(input_tokens=400, output_tokens=250, cache_read_tokens=600, requests=1)


async def test_endpoint_usage_without_cache_details(tmp_path, server):
    server.answer(Reply(200, completion(prompt_tokens=17, completion_tokens=3, cached=None)))
    r = await chat(tmp_path, server, request())
    assert r.usage == Usage(input_tokens=17, output_tokens=3, cache_read_tokens=0)


async def test_no_instructions_means_no_system_message(tmp_path, server):
    await chat(tmp_path, server, request("just this", model="m"))
    assert server.requests[0].body["messages"] == [{"role": "user", "content": "just this"}]


async def test_a_conversation_is_sent_whole(tmp_path, server):
    req = request("q", model="m").model_copy(
        update={
            "messages": [
                Message(role="user", content="q"),
                Message(role="assistant", content="not json"),
                Message(role="user", content="reply with JSON"),
            ]
        }
    )
    await chat(tmp_path, server, req)
    assert [m["role"] for m in server.requests[0].body["messages"]] == ["user", "assistant", "user"]


async def test_without_the_key_variable_no_authorization_is_sent(tmp_path, server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    await chat(tmp_path, server, request())
    assert "authorization" not in server.requests[0].headers


async def test_a_trailing_slash_in_base_url_is_fine(tmp_path, server):
    p = provider(tmp_path, base_url=server.base_url + "/")
    try:
        await p.invoke(request())
    finally:
        await p.aclose()
    assert server.requests[0].path == "/v1/chat/completions"


async def test_the_endpoint_is_used_when_the_mock_has_no_reply_or_use_mock_is_off(tmp_path, server):
    p = provider(tmp_path, {"s": "scripted"}, base_url=server.base_url)
    try:
        assert (await p.invoke(request())).text == "scripted"
        assert server.requests == []
        assert (await p.invoke(request(step="t", agent="b"))).text == "hello from the endpoint"
        assert len(server.requests) == 1
    finally:
        await p.aclose()
    r = await chat(tmp_path, server, request(), use_mock=False)
    assert r.text == "hello from the endpoint"


async def test_429_is_throttled_with_retry_after(tmp_path, server):
    server.answer(Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "3"}))
    with pytest.raises(Throttled) as info:
        await chat(tmp_path, server, request())
    err = info.value
    assert err.retry_after == 3.0
    assert err.retryable
    assert "429" in err.message and "slow down" in err.message


async def test_429_without_a_usable_retry_after(tmp_path, server):
    server.answer(Reply(429, {"error": "x"}, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}))
    with pytest.raises(Throttled) as info:
        await chat(tmp_path, server, request())
    assert info.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 408])
async def test_server_errors_are_transient(tmp_path, server, status):
    server.answer(Reply(status, {"error": {"message": "boom"}}, {"Retry-After": "1.5"}))
    with pytest.raises(TransientError) as info:
        await chat(tmp_path, server, request())
    assert type(info.value) is TransientError
    assert info.value.retryable
    assert info.value.retry_after == 1.5
    assert str(status) in info.value.message


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_an_auth_error_with_a_fix(tmp_path, server, status):
    server.answer(Reply(status, {"error": {"message": "invalid api key"}}))
    with pytest.raises(AuthError) as info:
        await chat(tmp_path, server, request())
    assert not info.value.retryable
    assert info.value.fix and "api_key_env" in info.value.fix


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_a_rejected_request_is_invalid_and_not_retried(tmp_path, server, status):
    server.answer(Reply(status, {"error": {"message": "unknown model"}}))
    with pytest.raises(InvalidRequest) as info:
        await chat(tmp_path, server, request())
    assert not info.value.retryable
    assert str(status) in info.value.message


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b'{"id": "x", "choices": []}', id="no-choices"),
        pytest.param(b'{"choices": [{"message": {}}]}', id="no-content"),
        pytest.param(b"[1, 2, 3]", id="a-list"),
    ],
)
async def test_a_malformed_reply_is_transient(tmp_path, server, body):
    server.answer(Reply(200, body))
    with pytest.raises(TransientError, match="malformed"):
        await chat(tmp_path, server, request())


async def test_an_unreachable_endpoint_is_transient(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = provider(tmp_path, base_url=f"http://127.0.0.1:{port}/v1")
    try:
        with pytest.raises(TransientError, match="cannot reach"):
            await p.invoke(request())
    finally:
        await p.aclose()


async def test_a_slow_endpoint_is_a_call_timeout(tmp_path, server):
    server.answer(Reply(200, completion(), delay=0.6))
    with pytest.raises(CallTimeout) as info:
        await chat(tmp_path, server, request(), request_timeout=0.2)
    assert info.value.retryable


async def test_every_endpoint_error_is_a_step_error_with_the_provider_name(tmp_path, server):
    server.answer(Reply(500, {}), Reply(429, {}), Reply(401, {}), Reply(400, {}))
    for _ in range(4):
        with pytest.raises(StepError) as info:
            await chat(tmp_path, server, request())
        assert info.value.provider == "local"


async def test_a_workflow_runs_against_the_endpoint(tmp_path, server, api_key):
    server.answer(
        Reply(200, completion("Tea is a drink.", prompt_tokens=50, completion_tokens=10, cached=20)),
        Reply(200, completion('{"title": "Tea"}', prompt_tokens=80, completion_tokens=6, cached=0)),
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        f"""
name: endpoint-flow
inputs:
  topic: string
agents:
  writer:
    model: fast
    instructions: You write about {{{{ inputs.topic }}}}.
    options: {{temperature: 0}}
providers:
  local:
    base_url: {server.base_url}
    api_key_env: {KEY_ENV}
    use_mock: false
    models: {{fast: gpt-served-mini}}
steps:
  research:
    agent: writer
    prompt: "Tell me about {{{{ inputs.topic }}}}"
  title:
    agent: writer
    needs: research
    prompt: "Title for: {{{{ steps.research.output }}}}"
    output:
      schema: {{type: object, required: [title], properties: {{title: {{type: string}}}}}}
outputs:
  title: "{{{{ steps.title.output.title }}}}"
mock:
  research: never used, use_mock is false
""",
        encoding="utf-8",
    )
    store = MemoryStore()
    run = await podium.arun(flow, {"topic": "tea"}, store=store)

    assert run.status == "succeeded", run.error
    assert run.outputs == {"title": "Tea"}
    assert run.steps["research"].output == "Tea is a drink."
    assert run.usage == Usage(input_tokens=110, output_tokens=16, cache_read_tokens=20, requests=2)

    first, second = server.requests
    assert first.body["model"] == "gpt-served-mini"
    assert first.body["temperature"] == 0
    assert first.body["messages"] == [
        {"role": "system", "content": "You write about tea."},
        {"role": "user", "content": "Tell me about tea"},
    ]
    assert second.body["messages"][-1] == {"role": "user", "content": "Title for: Tea is a drink."}
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer test-key"}
    started = [e for e in store.events(run.run_id) if e.type is EventType.CALL_STARTED]
    assert [r.headers["idempotency-key"] for r in server.requests] == [
        e.data["idempotency_key"] for e in started
    ]
    finished = [e for e in store.events(run.run_id) if e.type is EventType.CALL_FINISHED]
    assert finished[0].data["model"] == "served-model-2024"
    assert finished[0].data["response_id"].startswith("chatcmpl-")


async def test_a_workflow_retries_a_throttled_endpoint(tmp_path, server):
    server.answer(
        Reply(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"}),
        Reply(503, {"error": {"message": "overloaded"}}),
        Reply(200, completion("finally")),
    )
    wf = Workflow.model_validate(
        {
            "name": "retrying",
            "agents": {"a": {"model": "m"}},
            "providers": {"local": {"base_url": server.base_url}},
            "steps": {"s": {"agent": "a", "prompt": "p", "retry": {"attempts": 3, "backoff": 0}}},
        }
    )
    store = MemoryStore()
    run = await podium.arun(wf, store=store)
    assert run.ok, run.error
    assert run.steps["s"].output == "finally"
    assert run.steps["s"].attempts == 3
    failed = [e for e in store.events(run.run_id) if e.type is EventType.CALL_FAILED]
    assert [(e.data["kind"], e.data["retry_after"]) for e in failed] == [
        ("throttled", 0.0),
        ("transient", None),
    ]
    keys = [r.headers["idempotency-key"] for r in server.requests]
    assert len(keys) == 3
    # each attempt is a call of its own, with its own span: the traceparent of its CallStarted
    started = [e for e in store.events(run.run_id) if e.type is EventType.CALL_STARTED]
    assert [r.headers["traceparent"] for r in server.requests] == [
        traceparent(run.run_id, call_key(e.seq)) for e in started
    ]
    assert len({r.headers["traceparent"] for r in server.requests}) == 3


async def test_a_workflow_with_an_auth_failure_fails_at_once(tmp_path, server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    server.answer(Reply(401, {"error": {"message": "missing key"}}))
    wf = Workflow.model_validate(
        {
            "name": "unauthorised",
            "agents": {"a": {}},
            "providers": {"local": {"base_url": server.base_url, "api_key_env": KEY_ENV}},
            "steps": {"s": {"agent": "a", "prompt": "p", "retry": {"attempts": 3, "backoff": 0}}},
        }
    )
    run = await podium.arun(wf, store=MemoryStore())
    assert run.status == "failed"
    assert run.error is not None and run.error.kind == "auth"
    assert run.error.fix and "api_key_env" in run.error.fix
    assert len(server.requests) == 1  # not retried
