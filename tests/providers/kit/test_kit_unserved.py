"""The shared 501 routes: URI templates as path patterns; a 501 naming the operation in the cloud's format."""

from __future__ import annotations

import json

import httpx
import pytest

from podium.providers._kit.emulator import CloudEmulator
from podium.providers._kit.http import HttpResponse
from podium.providers._kit.unserved import Unserved, template_regex, unserved_message, unserved_routes


@pytest.mark.parametrize(
    ("template", "path", "matches"),
    [
        ("/v1/{name=projects/*/engines/*}:cancel", "/v1/projects/p/engines/7:cancel", True),
        ("/v1/{name=projects/*/engines/*}", "/v1/projects/p/engines/7:cancel", False),  # `*` is no `:verb`
        ("/v1/{name=projects/*/engines/*}", "/v1/projects/p/engines/7/sessions/1", False),
        ("/agents/{agent_name}/versions", "/agents/helper/versions", True),
        ("/agents/{agent_name}", "/agents/a/b", False),
        ("/v1/{name=files/**}", "/v1/files/a/b/c", True),
        ("/v1/things.list", "/v1/thingsXlist", False),  # literal text is escaped
    ],
)
def test_a_template_matches_its_own_paths_only(template: str, path: str, matches: bool) -> None:
    assert bool(template_regex(template).match(path)) is matches


class Unserving(CloudEmulator):
    provider = "fakecloud"

    def routes(self):  # type: ignore[no-untyped-def]
        table = [Unserved("POST", "/{name=things/*}:poke", "PokeThing", "poke it by hand")]
        return unserved_routes(table, self.unserved, prefix=r"/v9")

    def unserved(self, entry: Unserved) -> HttpResponse:
        return self.error_response(
            501, "NotImplemented", unserved_message(self.provider, entry.operation, entry.note)
        )


def test_an_unserved_operation_is_a_501_in_the_clouds_format_and_logged_by_name() -> None:
    with Unserving() as emulator, httpx.Client(base_url=emulator.endpoint_url) as client:
        reply = client.post("/v9/things/1:poke")
        other = client.post("/v9/things/1:prod")
    assert reply.status_code == 501
    error = json.loads(reply.content)["error"]
    assert error["message"] == "not implemented by podium's fakecloud emulator: PokeThing (poke it by hand)"
    assert other.status_code == 404  # a path no SDK calls stays the service's not-found
    first = emulator.requests[0]
    assert (first.operation, first.status, first.detail) == ("PokeThing", 501, {"unserved": True})
