"""The kit's TLS seam: an emulator with ``tls = True`` serves HTTPS that only its own CA vouches for."""

from __future__ import annotations

import json
import re
import ssl
from typing import Any

import httpx
import pytest

from podium.providers._kit.emulator import CloudEmulator, Route
from podium.providers._kit.http import HttpRequest, HttpResponse


class Plain(CloudEmulator):
    provider = "plain"

    def routes(self) -> list[Route]:
        return [Route("GET", re.compile(r"^/ping$"), "Ping", self.ping)]

    def ping(self, request: HttpRequest, match: re.Match[str], detail: dict[str, Any]) -> HttpResponse:
        return HttpResponse(
            200, {"Content-Type": "application/json"}, json.dumps({"url": request.url}).encode()
        )


class Secure(Plain):
    provider = "secure"
    tls = True


def test_a_tls_emulator_serves_https_trusted_through_its_ca_file() -> None:
    with Secure() as emu:
        assert emu.endpoint_url.startswith("https://127.0.0.1:") and emu.ca_file is not None
        with httpx.Client(verify=ssl.create_default_context(cafile=emu.ca_file)) as client:
            reply = client.get(f"{emu.endpoint_url}/ping")
        assert reply.status_code == 200 and reply.json()["url"].startswith("https://")
        with httpx.Client() as system_trust, pytest.raises(httpx.ConnectError):
            system_trust.get(f"{emu.endpoint_url}/ping")
        assert emu.count("Ping") == 1


def test_an_emulator_is_plain_http_unless_it_asks() -> None:
    with Plain() as emu:
        assert emu.endpoint_url.startswith("http://127.0.0.1:") and emu.ca_file is None
        assert httpx.get(f"{emu.endpoint_url}/ping").json()["url"].startswith("http://")
