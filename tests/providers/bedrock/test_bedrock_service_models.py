"""Every operation of the four Bedrock service models reaches its own route (issue 22, item 5).

Each operation is called through boto3 with the least parameters its model requires; the request
must be logged under that operation's own name, and either be served (anything but a 501) or
answer a 501 whose message names it. No operation may get another's answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import botocore.session
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import Shape

from podium.providers.bedrock.emulator import BedrockEmulator
from podium.providers.bedrock.operations import SERVICES
from podium.providers.bedrock.routes import CONTROL_PLANE
from podium.providers.bedrock.runtime_emulator import CONTROL_PLANE as AGENTCORE_CONTROL_PLANE

CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"}, inject_host_prefix=False, read_timeout=10
)
SERVED = {
    "bedrock-runtime": {"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"},
    "bedrock-agent-runtime": {
        "InvokeAgent",
        "InvokeInlineAgent",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    },
    "bedrock-agent": set(CONTROL_PLANE),
    "bedrock": {"ListFoundationModels", "GetFoundationModel", "ListInferenceProfiles", "GetInferenceProfile"},
    "bedrock-agentcore": {"InvokeAgentRuntime"},
    # the tag operations share their paths with bedrock-agent's, and are served there
    "bedrock-agentcore-control": {
        *AGENTCORE_CONTROL_PLANE,
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    },
}


def value(shape: Shape, depth: int = 0) -> Any:
    """The least value of `shape` that botocore's parameter validation accepts."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        if shape.metadata.get("union"):
            name = next(iter(members))
            return {name: value(members[name], depth + 1)}
        return {name: value(members[name], depth + 1) for name in shape.required_members}
    if kind == "list":
        return [value(shape.member, depth + 1) for _ in range(shape.metadata.get("min", 0))]
    if kind == "map":
        return {}
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        return "a1" * max(1, (shape.metadata.get("min", 1) + 1) // 2)
    if kind in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if kind in ("float", "double"):
        return float(shape.metadata.get("min", 1))
    if kind == "boolean":
        return False
    if kind == "blob":
        return b"{}"
    if kind == "timestamp":
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    raise AssertionError(f"no value for a {kind}")


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_is_served_or_a_501_naming_itself(emulator: BedrockEmulator, service: str) -> None:
    session = botocore.session.get_session()
    model = session.get_service_model(service)
    aws = boto3.client(service, config=CONFIG, **emulator.client_kwargs())
    wrong, called = [], 0
    for name in model.operation_names:
        operation = model.operation_model(name)
        if operation.has_event_stream_input:  # HTTP/2 bidirectional: botocore cannot send it
            continue
        called += 1
        params = value(operation.input_shape) if operation.input_shape is not None else {}
        method = getattr(aws, botocore.xform_name(name))
        before = emulator.count()
        try:
            reply = method(**params)
            for key in ("stream", "completion", "body"):  # read a stream to its end
                if hasattr(reply.get(key), "__iter__") and not isinstance(reply.get(key), bytes | dict):
                    list(reply[key])
            status = reply["ResponseMetadata"]["HTTPStatusCode"]
            message = ""
        except ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            message = exc.response["Error"].get("Message", "")
        logged = emulator.exchanges[before].operation if emulator.count() > before else "nothing"
        served = name in SERVED[service]
        if logged != name:
            wrong.append(f"{name}: logged as {logged}")
        elif served and status == 501:
            wrong.append(f"{name}: served, yet 501 ({message})")
        elif not served and (status, message) != (501, f"not implemented by podium's emulator: {name}"):
            wrong.append(f"{name}: {status} {message!r}")
    assert wrong == []
    assert called == emulator.count() >= 10  # every operation (but HTTP/2 ones) made one request


def test_a_path_no_model_has_is_the_services_unknown_operation(emulator: BedrockEmulator) -> None:
    aws = boto3.client("bedrock-runtime", config=CONFIG, **emulator.client_kwargs())
    endpoint = aws.meta.endpoint_url
    reply = httpx.get(f"{endpoint}/no/such/thing", headers={"Authorization": "AWS4-HMAC-SHA256 x"})
    assert reply.status_code == 404 and reply.headers["x-amzn-errortype"].startswith("UnknownOperation")
