"""The emulated ``bedrock`` management service: the foundation models and inference profiles it offers.

ListFoundationModels (with its ``byProvider``, ``byOutputModality``, ``byInferenceType`` filters),
GetFoundationModel, ListInferenceProfiles (paged) and GetInferenceProfile, all from the one table in
`podium.providers.bedrock.models`, so what a client lists is exactly what the runtime accepts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote

from podium.providers._kit.http import HttpRequest, HttpResponse
from podium.providers.bedrock import models, wire


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso(v) for v in value]
    return value


def _query(request: HttpRequest, name: str) -> str | None:
    values = request.query.get(name)
    return values[0] if values else None


def list_foundation_models(request: HttpRequest, region: str) -> HttpResponse:
    """ListFoundationModels: every model of the table, filtered as the query asks."""
    provider = (_query(request, "byProvider") or "").lower()
    modality = _query(request, "byOutputModality")
    inference = _query(request, "byInferenceType")
    customization = _query(request, "byCustomizationType")
    found = []
    for model in models.MODELS:
        summary = model.summary(region)
        if provider and provider not in (model.provider.lower(), model.model_id.split(".", 1)[0]):
            continue
        if modality and modality not in summary["outputModalities"]:
            continue
        if inference and inference not in summary["inferenceTypesSupported"]:
            continue
        if customization and customization not in summary["customizationsSupported"]:
            continue
        found.append(summary)
    return wire.json_response(200, {"modelSummaries": found})


def get_foundation_model(request: HttpRequest, identifier: str, region: str) -> HttpResponse:
    """GetFoundationModel by id or ARN; an unknown one is the service's ValidationException."""
    model = models.BY_ID.get(unquote(identifier).rsplit("/", 1)[-1])
    if model is None:
        return wire.validation_error(models.INVALID_MODEL)
    return wire.json_response(200, {"modelDetails": model.summary(region)})


def list_inference_profiles(request: HttpRequest, region: str, account_id: str) -> HttpResponse:
    """ListInferenceProfiles: the system-defined cross-region profiles, a page at a time."""
    kind = _query(request, "type") or "SYSTEM_DEFINED"
    if kind not in ("SYSTEM_DEFINED", "APPLICATION"):
        return wire.validation_error(
            f"1 validation error detected: Value '{kind}' at 'typeEquals' failed to satisfy constraint:"
            " Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]"
        )
    profiles = list(models.PROFILES.values()) if kind == "SYSTEM_DEFINED" else []
    try:
        start = int(_query(request, "nextToken") or 0)
        size = int(_query(request, "maxResults") or 1000)
    except ValueError:
        return wire.validation_error(
            "nextToken and maxResults must be numbers (use the nextToken a page gave)."
        )
    if not 1 <= size <= 1000:
        return wire.validation_error("maxResults must be between 1 and 1000.")
    page = profiles[start : start + size]
    body: dict[str, Any] = {"inferenceProfileSummaries": [_iso(p.summary(region, account_id)) for p in page]}
    if start + size < len(profiles):
        body["nextToken"] = str(start + size)
    return wire.json_response(200, body)


def get_inference_profile(identifier: str, region: str, account_id: str) -> HttpResponse:
    """GetInferenceProfile by id or ARN; an unknown one is the service's ResourceNotFoundException."""
    name = unquote(identifier).rsplit("/", 1)[-1]
    profile = models.PROFILES.get(name)
    if profile is None:
        return wire.not_found(f"Inference profile {name} not found.")
    return wire.json_response(200, _iso(profile.summary(region, account_id)))
