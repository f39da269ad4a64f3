"""Every operation the Google SDKs can call on the emulated services is routed by its own method and path.

The surface is read from the installed SDKs, not written here: the http rules of
google-cloud-aiplatform's REST transports (Agent Engine and its sessions, memories, runtime
revisions and operations; Gemini's generateContent and neighbours; context caches; the publisher
model catalogue), and the requests google-genai's ``models`` and ``caches`` make. Each is either
served (the emulator logs it under its own name, and answers it) or answered 501 UNIMPLEMENTED
naming itself; never another operation's error, nor a 404.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from google.genai import errors
from vertex_support import FLASH, genai_client

from podium.providers._kit.unserved import template_regex
from podium.providers.vertex.emulator import DUMMY_TOKEN, VertexEmulator
from podium.providers.vertex.surface import PROJECT_UNSERVED, SERVED, VERSION_PREFIX

# imagen and veo calls are deprecated, and still the SDK's surface
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated")

# which operations of which GAPIC services the emulator answers for (None: all of the service's)
CLAIMED: dict[str, set[str] | None] = {
    "reasoning_engine_service": None,
    "reasoning_engine_execution_service": None,
    "session_service": None,
    "memory_bank_service": None,
    "reasoning_engine_runtime_revision_service": None,
    "gen_ai_cache_service": None,
    "prediction_service": {
        "GenerateContent",
        "StreamGenerateContent",
        "CountTokens",
        "EmbedContent",
        "Predict",
    },
    "llm_utility_service": {"CountTokens", "ComputeTokens"},
    "model_garden_service": {"GetPublisherModel", "ListPublisherModels"},
    "model_service": {"GetModel", "ListModels", "UpdateModel", "DeleteModel"},
}
MIXINS = {"GetOperation", "ListOperations", "DeleteOperation", "CancelOperation", "WaitOperation"}
# the emulator's names for what it serves (fault injection and the request log use them)
ALIASES = {"QueryReasoningEngine": "Query", "StreamQueryReasoningEngine": "StreamQuery"}
SAMPLE = {
    "projects": "podium-emulator",
    "locations": "us-central1",
    "publishers": "google",
    "models": "gemini-2.5-flash",
}


def sdk_rules() -> list[tuple[str, str, str]]:
    """(operation, method, URI template) of every claimed http rule in aiplatform v1 and v1beta1."""
    found = set()
    for version in ("aiplatform_v1", "aiplatform_v1beta1"):
        for service, claimed in CLAIMED.items():
            try:
                module = importlib.import_module(
                    f"google.cloud.{version}.services.{service}.transports.rest_base"
                )
            except ModuleNotFoundError:  # not in this API version
                continue
            [base] = [v for k, v in vars(module).items() if k.startswith("_Base") and inspect.isclass(v)]
            for name, rule_class in vars(base).items():
                options = getattr(rule_class, "_get_http_options", None)
                if not name.startswith("_Base") or options is None:
                    continue
                operation = name[len("_Base") :]
                for rule in options():
                    uri, method = rule["uri"], rule["method"].upper()
                    if uri.startswith("/ui/"):
                        continue
                    if operation in MIXINS:
                        if "reasoningEngines" not in uri:
                            continue
                    elif "Location" in operation or "Iam" in operation:
                        continue  # the mixins every service has, not this one's
                    elif claimed is not None and operation not in claimed:
                        continue
                    found.add((ALIASES.get(operation, operation), method, uri))
    return sorted(found)


RULES = sdk_rules()


def sample_path(template: str) -> str:
    """A concrete path for a URI template: each `{field=pattern}` its pattern, each `*` a sample id."""
    path = re.sub(r"\{[a-z_.]+=([^}]*)\}", r"\1", template)
    return re.sub(r"([A-Za-z]+)/\*", lambda m: f"{m.group(1)}/{SAMPLE.get(m.group(1), '1000000001')}", path)


def test_the_sdks_surface_is_large_enough_to_mean_something() -> None:
    operations = {op for op, _, _ in RULES}
    assert {"GenerateContent", "StreamGenerateContent", "CountTokens", "Query", "StreamQuery"} <= operations
    assert {"CreateSession", "AppendEvent", "CreateMemory", "CreateCachedContent"} <= operations
    assert len(RULES) > 100


def test_every_operation_is_served_or_answers_501_naming_itself(emulator: VertexEmulator) -> None:
    served = {op for _, _, op in SERVED}
    seen_served = set()
    auth = {"Authorization": f"Bearer {DUMMY_TOKEN}"}
    with httpx.Client(base_url=emulator.endpoint_url, headers=auth) as raw:
        for operation, method, template in RULES:
            path = sample_path(template)
            reply = raw.request(method, path, json={} if method in ("POST", "PATCH") else None)
            logged = emulator.requests[-1]
            where = f"{method} {path} ({operation})"
            assert (logged.method, logged.path) == (method, path), where
            assert logged.operation == operation, f"{where} was routed to {logged.operation}"
            error = reply.json().get("error") if reply.status_code >= 400 else None
            if reply.status_code == 501:
                assert error["status"] == "UNIMPLEMENTED", where
                assert f"emulator: {operation}" in error["message"], where
            else:
                assert operation in served, f"{where} answered {reply.status_code}, not 501"
                seen_served.add(operation)
                if error is not None:  # the service's own error shape, never the emulator's bug
                    assert reply.status_code < 500 and isinstance(error["status"], str), where
    assert seen_served == served


def test_the_emulators_table_names_only_what_the_sdk_calls() -> None:
    """No stale entry: each project-scoped unserved template is one the installed SDKs call."""
    by_sdk = {(op, method, re.sub(r"^/v1(beta1)?/", "", uri)) for op, method, uri in RULES}
    from_genai_only = {"PredictLongRunning", "FetchPredictOperation"}  # google-genai's paths, not GAPIC's
    stale = [
        u
        for u in PROJECT_UNSERVED
        if u.operation not in from_genai_only and (u.operation, u.method, u.template) not in by_sdk
    ]
    assert stale == []
    for method, template, op in SERVED:
        assert (op, method, template) in by_sdk
        assert template_regex(template, prefix=VERSION_PREFIX).match("/v1/" + sample_path(template))


# google-genai's models and caches, as it builds their paths: what each call lands on
GENAI: dict[str, tuple[Callable[[Any], Any], str]] = {
    "models.generate_content": (
        lambda c: c.models.generate_content(model=FLASH, contents="hi"),
        "GenerateContent",
    ),
    "models.generate_content_stream": (
        lambda c: list(c.models.generate_content_stream(model=FLASH, contents="hi")),
        "StreamGenerateContent",
    ),
    "models.count_tokens": (lambda c: c.models.count_tokens(model=FLASH, contents="hi"), "CountTokens"),
    "models.compute_tokens": (lambda c: c.models.compute_tokens(model=FLASH, contents="hi"), "ComputeTokens"),
    "models.embed_content": (
        lambda c: c.models.embed_content(model="text-embedding-005", contents="hi"),
        "Predict",
    ),
    "models.generate_images": (
        lambda c: c.models.generate_images(model="imagen-3.0-generate-002", prompt="x"),
        "Predict",
    ),
    "models.edit_image": (
        lambda c: c.models.edit_image(model="imagen-3.0-capability-001", prompt="x", reference_images=[]),
        "Predict",
    ),
    "models.upscale_image": (
        lambda c: c.models.upscale_image(
            model="imagen-4.0-upscale-preview", image=_image(), upscale_factor="x2"
        ),
        "Predict",
    ),
    "models.recontext_image": (
        lambda c: c.models.recontext_image(model="imagen-product-recontext-preview", source={"prompt": "x"}),
        "Predict",
    ),
    "models.segment_image": (
        lambda c: c.models.segment_image(model="image-segmentation-001", source={"image": _image()}),
        "Predict",
    ),
    "models.generate_videos": (
        lambda c: c.models.generate_videos(model="veo-2.0-generate-001", prompt="x"),
        "PredictLongRunning",
    ),
    "models.get": (lambda c: c.models.get(model=FLASH), "GetPublisherModel"),
    "models.list": (lambda c: list(c.models.list()), "ListPublisherModels"),
    "models.update": (
        lambda c: c.models.update(model="projects/p/locations/l/models/1", config={"display_name": "x"}),
        "UpdateModel",
    ),
    "models.delete": (lambda c: c.models.delete(model="projects/p/locations/l/models/1"), "DeleteModel"),
    "caches.create": (
        lambda c: c.caches.create(model=FLASH, config={"contents": ["hi"]}),
        "CreateCachedContent",
    ),
    "caches.get": (lambda c: c.caches.get(name="cachedContents/1"), "GetCachedContent"),
    "caches.update": (
        lambda c: c.caches.update(name="cachedContents/1", config={"ttl": "60s"}),
        "UpdateCachedContent",
    ),
    "caches.delete": (lambda c: c.caches.delete(name="cachedContents/1"), "DeleteCachedContent"),
    "caches.list": (lambda c: list(c.caches.list()), "ListCachedContents"),
}


def _image() -> Any:
    from google.genai import types

    return types.Image(image_bytes=b"\x89PNG", mime_type="image/png")


def test_google_genai_models_and_caches_are_all_listed() -> None:
    from google.genai import caches, models

    public = {
        f"{prefix}.{name}"
        for prefix, cls in (("models", models.Models), ("caches", caches.Caches))
        for name, _ in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }
    assert public == set(GENAI)  # a new SDK method fails here until it is routed and listed


@pytest.mark.parametrize("method", sorted(GENAI))
def test_google_genai_calls_are_served_or_a_clear_501(emulator: VertexEmulator, method: str) -> None:
    call, operation = GENAI[method]
    client = genai_client(emulator)
    served = {op for _, _, op in SERVED}
    try:
        call(client)
    except errors.APIError as exc:
        assert exc.code == 501 and exc.status == "UNIMPLEMENTED", (method, exc)
        assert f"emulator: {operation}" in str(exc.message)
        assert operation not in served
    else:
        assert operation in served
    assert emulator.requests[-1].operation == operation
