"""Bedrock calls on the event loop: botocore's serializer, SigV4 signer and parsers, sent without a thread.

boto3 blocks, so a call made through it crosses to a worker thread and back (bench/findings.md,
section 7). `AsyncBedrock` makes the request boto3 would make and reads the reply as boto3 would:
botocore validates and serializes the parameters (the service model of the client boto3 made),
signs the request with SigV4 (the session's credentials, the client's region and signing name),
and parses the reply: the JSON, InvokeAgent's event stream (botocore's `EventStream`, its errors
included) and the service's errors, raised as the client's own exception classes. Only the bytes
travel another way: over the kit's `AsyncHttpPool` on the run's loop, whose failures come out as
botocore's connection, timeout and streaming exceptions. So `errors.to_podium` maps every outcome
as before.

`BedrockProvider` sends Converse and InvokeAgent this way by default (``transport: loop``): no
thread hop, none of botocore's per-call event hooks; against an endpoint in another process (a real
cloud, `podium emulate`) a step costs ~1.05x the bare boto3 call instead of ~1.5x
(bench/findings.md, 7d). `AsyncBedrock.unusable` says why a provider keeps boto3's own path (in the
thread pool): ``transport: threads``, botocore's own retries (``max_attempts`` above 1), a proxy for
the endpoint, a Bedrock API key (bearer token) instead of SigV4, or a client not signed with SigV4.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from podium.providers._kit.async_http import (
    AsyncHttpPool,
    BrokenReply,
    ConnectTimedOut,
    HttpFailure,
    ReadTimedOut,
)
from podium.providers.bedrock.client import BedrockClients

ZERO = timedelta(0)
BEARER_TOKEN = "AWS_BEARER_TOKEN_BEDROCK"  # Bedrock API keys: boto3 then sends a bearer token, not SigV4


def parse_timestamp(value: Any) -> Any:
    """botocore's `parse_timestamp`, the same datetime, without dateutil for the usual ISO 8601 UTC text.

    InvokeAgent's trace events carry a dozen timestamps per call; dateutil's parser takes ~60 µs each
    (bench/findings.md, 7d). ``2026-12-01T14:10:00.123Z`` (or ``+00:00``) is read by the standard
    library and given dateutil's ``tzutc()``, as botocore gives it; anything else (epoch numbers,
    RFC 822, another offset, no zone) goes to botocore's own parser.
    """
    from botocore.utils import parse_timestamp as botocore_parse

    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and value[10:11] in "Tt":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return botocore_parse(value)
        if parsed.utcoffset() == ZERO:
            from dateutil.tz import tzutc

            return parsed.replace(tzinfo=tzutc())
    return botocore_parse(value)


class _Body:
    """A reply body already read, as the raw stream botocore's `EventStream` iterates."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self) -> Iterator[bytes]:
        if self.data:
            yield self.data

    def close(self) -> None:
        pass


class _Operation:
    """What a call of one operation needs, worked out once: its model, endpoint and signing scope."""

    def __init__(self, client: Any, operation: str) -> None:
        from botocore import parsers, serialize

        meta = client.meta
        self.client = client
        self.model = meta.service_model.operation_model(operation)
        protocol = getattr(meta.service_model, "resolved_protocol", None) or meta.service_model.protocol
        validate = bool(getattr(meta.config, "parameter_validation", True))
        self.serializer = serialize.create_serializer(protocol, include_validation=validate)
        factory = parsers.ResponseParserFactory()
        factory.set_parser_defaults(timestamp_parser=parse_timestamp)
        self.parser = factory.create_parser(protocol)
        self.endpoint_url = meta.endpoint_url
        self.region = meta.region_name
        self.signing_name = meta.service_model.signing_name or meta.service_model.endpoint_prefix


class AsyncBedrock:
    """botocore's requests for one provider instance, sent on the event loop (see the module's docstring)."""

    def __init__(self, clients: BedrockClients) -> None:
        self.clients = clients
        cfg = clients.config
        self.pool = AsyncHttpPool(
            size=cfg.max_connections,
            connect_timeout=cfg.connect_timeout,
            read_timeout=cfg.read_timeout,
            ssl_context=self._ssl_context,
        )
        self._operations: dict[tuple[str, str], _Operation] = {}
        self._credentials: Any = None
        self._user_agent: str | None = None

    def unusable(self) -> str | None:
        """Why calls must go through boto3 itself (in the thread pool); None when this path serves them."""
        cfg = self.clients.config
        if cfg.transport != "loop":
            return "transport: threads (as set)"
        if cfg.max_attempts != 1:
            return "botocore retries (max_attempts > 1)"
        if os.environ.get(BEARER_TOKEN):
            return f"a Bedrock API key ({BEARER_TOKEN})"
        endpoint = self.clients.endpoint_url or "https://amazonaws.com"
        scheme, _, rest = endpoint.partition("://")
        host = rest.split("/", 1)[0].rsplit(":", 1)[0]
        proxies = urllib.request.getproxies()
        if proxies.get(scheme.lower()) and not urllib.request.proxy_bypass(host):
            return f"a proxy for {scheme}"
        return None

    async def call(
        self, service: str, operation: str, params: Mapping[str, Any], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        """One botocore operation: the parsed reply, or the exception boto3 would raise for it.

        `headers` (the call's traceparent) are added to the request, unsigned, as the ``before-send``
        hook adds them on boto3's path.
        """
        from botocore import exceptions as bx
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import HeadersDict, create_request_object, prepare_request_dict
        from botocore.handlers import add_recursion_detection_header

        op = await self._operation(service, operation)
        request_dict = op.serializer.serialize_to_request(dict(params), op.model)
        add_recursion_detection_header(request_dict)  # in AWS Lambda: X-Amzn-Trace-Id, as boto3's hook adds
        prepare_request_dict(request_dict, endpoint_url=op.endpoint_url, user_agent=self._agent())
        request = create_request_object(request_dict)
        SigV4Auth(await self._frozen_credentials(), op.signing_name, op.region).add_auth(request)
        prepared = request.prepare()
        sent = {**dict(prepared.headers.items()), **headers}
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        url = prepared.url
        try:
            reply = await self.pool.request(prepared.method, url, sent, bytes(body))
        except ConnectTimedOut as exc:
            raise bx.ConnectTimeoutError(endpoint_url=url, error=exc) from exc
        except ReadTimedOut as exc:
            raise bx.ReadTimeoutError(endpoint_url=url, error=exc) from exc
        except BrokenReply as exc:
            raise bx.ResponseStreamingError(error=exc) from exc
        except HttpFailure as exc:  # ConnectFailed: nothing was sent
            raise bx.EndpointConnectionError(endpoint_url=url, error=exc) from exc
        response: dict[str, Any] = {
            "headers": HeadersDict(reply.headers),
            "status_code": reply.status,
            "context": {"operation_name": op.model.name},
            "body": reply.body,
        }
        if reply.status < 300 and op.model.has_event_stream_output:
            response["body"] = _Body(reply.body)
        parsed: dict[str, Any] = op.parser.parse(response, op.model.output_shape)
        if reply.status >= 300:
            code = parsed.get("Error", {}).get("Code")
            raise op.client.exceptions.from_code(code)(parsed, op.model.name)
        return parsed

    async def _operation(self, service: str, operation: str) -> _Operation:
        op = self._operations.get((service, operation))
        if op is None:
            # the first call makes boto3's client (reads its service model: tens of ms), off the loop
            client = await asyncio.to_thread(self.clients.client, service)
            if str(getattr(client.meta.config, "signature_version", None) or "v4") not in ("v4", "s3v4"):
                from botocore.exceptions import UnsupportedSignatureVersionError

                raise UnsupportedSignatureVersionError(signature_version=client.meta.config.signature_version)
            op = self._operations[(service, operation)] = _Operation(client, operation)
        return op

    async def _frozen_credentials(self) -> Any:
        if self._credentials is None:
            # the credential chain may read files or ask the instance metadata service: off the loop
            credentials = await asyncio.to_thread(self.clients.session().get_credentials)
            if credentials is None:
                from botocore.exceptions import NoCredentialsError

                raise NoCredentialsError()
            self._credentials = credentials
        refresh = getattr(self._credentials, "refresh_needed", None)
        if refresh is not None and refresh():  # temporary credentials due: their refresh blocks, off the loop
            return await asyncio.to_thread(self._credentials.get_frozen_credentials)
        return self._credentials.get_frozen_credentials()

    def _agent(self) -> str:
        if self._user_agent is None:
            import boto3
            import botocore

            self._user_agent = f"Boto3/{boto3.__version__} md/Botocore#{botocore.__version__} podium async"
        return self._user_agent

    def _ssl_context(self) -> ssl.SSLContext:
        """TLS as botocore's: the session's CA bundle (AWS_CA_BUNDLE, the profile's), else botocore's."""
        from botocore.httpsession import get_cert_path

        core = getattr(self.clients.session(), "_session", None)  # boto3's botocore session
        bundle = (
            core.get_config_variable("ca_bundle") if core is not None else os.environ.get("AWS_CA_BUNDLE")
        )
        return ssl.create_default_context(cafile=bundle or get_cert_path(True))

    async def aclose(self) -> None:
        await self.pool.aclose()
