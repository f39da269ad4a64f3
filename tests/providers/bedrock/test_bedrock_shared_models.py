"""Each run's Bedrock provider has its own boto3 Session, but the services' JSON models are loaded
once per process: a Session per run otherwise kept ~8 MB of identical model data each (200 runs at
once: 1.8 GB; the load suite in tests/reliability measures the whole process)."""

from __future__ import annotations

from pathlib import Path

from bedrock_support import provider_for

from podium.providers.bedrock.client import shared_loader
from podium.providers.bedrock.emulator import BedrockEmulator


def test_two_runs_providers_share_one_model_loader_and_keep_their_own_sessions(
    emulator: BedrockEmulator, tmp_path: Path
) -> None:
    first = provider_for(emulator, tmp_path)
    second = provider_for(emulator, tmp_path, region="eu-west-1")
    try:
        one, other = first.clients.session(), second.clients.session()
        assert one is not other and (one.region_name, other.region_name) == ("us-east-1", "eu-west-1")
        loaders = {id(s._session.get_component("data_loader")) for s in (one, other)}
        assert loaders == {id(shared_loader())}
        # the model a client is made from is the one the shared loader read, not a copy
        a = first.clients.client("bedrock-runtime").meta.service_model
        b = second.clients.client("bedrock-runtime").meta.service_model
        assert a._service_description is b._service_description
    finally:
        first.clients.close()
        second.clients.close()
