"""The Bedrock foundation models the emulator knows: real ids, names and capabilities, and their profiles.

One small table answers ListFoundationModels, GetFoundationModel and ListInferenceProfiles, and
decides "unknown model" for every runtime call (Converse, ConverseStream, InvokeModel, the model a
CreateAgent names), so the emulator refuses the same ids everywhere, as the service does. Every id
here is one the price catalog prices (a test keeps the two in step), so a run against the emulator
is costed as it would be on AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

INVALID_MODEL = "The provided model identifier is invalid."
# the dates the emulator reports for the system-defined profiles (the service reports when AWS made them)
PROFILE_CREATED = datetime(2024, 8, 27, tzinfo=UTC)
PROFILE_UPDATED = datetime(2025, 10, 1, tzinfo=UTC)

_GEOS = {"us": "US", "eu": "EU", "apac": "APAC", "global": "Global"}
# ARNs the emulator cannot check (a customer's own models and profiles): accepted as they are
_OWN_ARN = re.compile(
    r"^arn:aws(-[^:]+)?:bedrock:[^:]*:[^:]*:(provisioned-model|custom-model|imported-model"
    r"|application-inference-profile|custom-model-deployment|prompt|marketplace)/.+$"
)
_ARN = re.compile(r"^arn:aws(-[^:]+)?:bedrock:[^:]*:[^:]*:(foundation-model|inference-profile)/(.+)$")


@dataclass(frozen=True, slots=True)
class FoundationModel:
    """One model as ListFoundationModels describes it; `geos` are its cross-region profiles' prefixes."""

    model_id: str
    name: str
    provider: str
    inputs: tuple[str, ...] = ("TEXT",)
    outputs: tuple[str, ...] = ("TEXT",)
    on_demand: bool = True
    geos: tuple[str, ...] = ()
    legacy: bool = False

    def summary(self, region: str) -> dict[str, Any]:
        """A FoundationModelSummary (also GetFoundationModel's modelDetails)."""
        types = (["ON_DEMAND"] if self.on_demand else []) + (["INFERENCE_PROFILE"] if self.geos else [])
        return {
            "modelArn": f"arn:aws:bedrock:{region}::foundation-model/{self.model_id}",
            "modelId": self.model_id,
            "modelName": self.name,
            "providerName": self.provider,
            "inputModalities": list(self.inputs),
            "outputModalities": list(self.outputs),
            "responseStreamingSupported": True,
            "customizationsSupported": [],
            "inferenceTypesSupported": types,
            "modelLifecycle": {"status": "LEGACY" if self.legacy else "ACTIVE"},
        }


_CLAUDE_NEW = ("us", "eu", "global")
MODELS: tuple[FoundationModel, ...] = (
    FoundationModel("anthropic.claude-haiku-4-5-20251001-v1:0", "Claude Haiku 4.5", "Anthropic",
                    ("TEXT", "IMAGE"), on_demand=False, geos=_CLAUDE_NEW),
    FoundationModel("anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5", "Anthropic",
                    ("TEXT", "IMAGE"), on_demand=False, geos=_CLAUDE_NEW),
    FoundationModel("anthropic.claude-opus-4-1-20250805-v1:0", "Claude Opus 4.1", "Anthropic",
                    ("TEXT", "IMAGE"), on_demand=False, geos=("us",)),
    FoundationModel("anthropic.claude-sonnet-4-20250514-v1:0", "Claude Sonnet 4", "Anthropic",
                    ("TEXT", "IMAGE"), on_demand=False, geos=_CLAUDE_NEW),
    FoundationModel("anthropic.claude-3-5-haiku-20241022-v1:0", "Claude 3.5 Haiku", "Anthropic",
                    geos=("us",)),
    FoundationModel("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet", "Anthropic",
                    ("TEXT", "IMAGE"), geos=("us", "eu", "apac")),
    FoundationModel("anthropic.claude-opus-4-5-20251101-v1:0", "Claude Opus 4.5", "Anthropic",
                    ("TEXT", "IMAGE"), on_demand=False, geos=_CLAUDE_NEW),
    FoundationModel("anthropic.claude-opus-4-20250514-v1:0", "Claude Opus 4", "Anthropic",
                    ("TEXT", "IMAGE"), on_demand=False, geos=("us",)),
    FoundationModel("anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet", "Anthropic",
                    ("TEXT", "IMAGE"), on_demand=False, geos=("us", "eu", "apac")),
    FoundationModel("anthropic.claude-3-5-sonnet-20241022-v2:0", "Claude 3.5 Sonnet v2", "Anthropic",
                    ("TEXT", "IMAGE"), geos=("us", "apac"), legacy=True),
    # the model most of AWS's own Converse and InvokeModel examples call
    FoundationModel("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", "Anthropic",
                    ("TEXT", "IMAGE"), geos=("us", "eu", "apac")),
    FoundationModel("anthropic.claude-3-sonnet-20240229-v1:0", "Claude 3 Sonnet", "Anthropic",
                    ("TEXT", "IMAGE"), geos=("us", "eu", "apac"), legacy=True),
    FoundationModel("anthropic.claude-3-opus-20240229-v1:0", "Claude 3 Opus", "Anthropic",
                    ("TEXT", "IMAGE"), geos=("us",), legacy=True),
    FoundationModel("anthropic.claude-v2:1", "Claude", "Anthropic", legacy=True),
    FoundationModel("anthropic.claude-v2", "Claude", "Anthropic", legacy=True),
    FoundationModel("anthropic.claude-instant-v1", "Claude Instant", "Anthropic", legacy=True),
    FoundationModel("amazon.nova-micro-v1:0", "Nova Micro", "Amazon", geos=("us", "eu", "apac")),
    FoundationModel("amazon.nova-lite-v1:0", "Nova Lite", "Amazon", ("TEXT", "IMAGE", "VIDEO"),
                    geos=("us", "eu", "apac")),
    FoundationModel("amazon.nova-pro-v1:0", "Nova Pro", "Amazon", ("TEXT", "IMAGE", "VIDEO"),
                    geos=("us", "eu", "apac")),
    FoundationModel("amazon.nova-premier-v1:0", "Nova Premier", "Amazon", ("TEXT", "IMAGE", "VIDEO"),
                    on_demand=False, geos=("us",)),
    FoundationModel("amazon.titan-text-premier-v1:0", "Titan Text G1 - Premier", "Amazon"),
    FoundationModel("amazon.titan-text-express-v1", "Titan Text G1 - Express", "Amazon"),
    FoundationModel("amazon.titan-text-lite-v1", "Titan Text G1 - Lite", "Amazon"),
    FoundationModel("cohere.command-r-v1:0", "Command R", "Cohere"),
    FoundationModel("cohere.command-r-plus-v1:0", "Command R+", "Cohere"),
    FoundationModel("meta.llama3-1-70b-instruct-v1:0", "Llama 3.1 70B Instruct", "Meta", geos=("us",)),
    FoundationModel("meta.llama3-1-8b-instruct-v1:0", "Llama 3.1 8B Instruct", "Meta", geos=("us",)),
    FoundationModel("meta.llama3-3-70b-instruct-v1:0", "Llama 3.3 70B Instruct", "Meta", on_demand=False,
                    geos=("us",)),
    FoundationModel("meta.llama3-70b-instruct-v1:0", "Llama 3 70B Instruct", "Meta"),
    FoundationModel("meta.llama3-8b-instruct-v1:0", "Llama 3 8B Instruct", "Meta"),
    FoundationModel("mistral.mistral-large-2407-v1:0", "Mistral Large (24.07)", "Mistral AI"),
    FoundationModel("mistral.mistral-7b-instruct-v0:2", "Mistral 7B Instruct", "Mistral AI"),
    FoundationModel("mistral.mixtral-8x7b-instruct-v0:1", "Mixtral 8x7B Instruct", "Mistral AI"),
    FoundationModel("ai21.jamba-1-5-large-v1:0", "Jamba 1.5 Large", "AI21 Labs"),
    FoundationModel("ai21.jamba-1-5-mini-v1:0", "Jamba 1.5 Mini", "AI21 Labs"),
    FoundationModel("deepseek.r1-v1:0", "DeepSeek-R1", "DeepSeek", on_demand=False, geos=("us",)),
    FoundationModel("openai.gpt-oss-120b-1:0", "gpt-oss-120b", "OpenAI"),
    FoundationModel("openai.gpt-oss-20b-1:0", "gpt-oss-20b", "OpenAI"),
)  # fmt: skip
BY_ID: dict[str, FoundationModel] = {m.model_id: m for m in MODELS}


@dataclass(frozen=True, slots=True)
class InferenceProfile:
    """A system-defined cross-region inference profile (``us.anthropic.…``) routing to one model."""

    profile_id: str
    geo: str
    model: FoundationModel

    def summary(self, region: str, account_id: str) -> dict[str, Any]:
        """An InferenceProfileSummary (also GetInferenceProfile's answer); times are datetimes."""
        return {
            "inferenceProfileName": f"{_GEOS[self.geo]} {self.model.name}",
            "description": f"Routes requests to {self.model.name} in {_GEOS[self.geo]} regions.",
            "createdAt": PROFILE_CREATED,
            "updatedAt": PROFILE_UPDATED,
            "inferenceProfileArn": (
                f"arn:aws:bedrock:{region}:{account_id}:inference-profile/{self.profile_id}"
            ),
            "models": [{"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{self.model.model_id}"}],
            "inferenceProfileId": self.profile_id,
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
        }


PROFILES: dict[str, InferenceProfile] = {
    f"{geo}.{m.model_id}": InferenceProfile(f"{geo}.{m.model_id}", geo, m) for m in MODELS for geo in m.geos
}


def resolve(model_id: str) -> FoundationModel | None:
    """The foundation model a runtime call names (an id, a profile id, or either's ARN), or None when
    the service would call it invalid. An ARN of the caller's own (provisioned, custom, imported
    models, application profiles) cannot be checked here and resolves to no model but is not refused:
    see `known`."""
    arn = _ARN.match(model_id)
    name = arn.group(3) if arn else model_id
    if name in BY_ID:
        return BY_ID[name]
    profile = PROFILES.get(name)
    return profile.model if profile is not None else None


def known(model_id: str) -> bool:
    """Whether a runtime call may name `model_id`: a model or profile of the table, or an ARN of the
    caller's own resources (which only the account could check)."""
    return resolve(model_id) is not None or bool(_OWN_ARN.match(model_id))


def family(model_id: str) -> str | None:
    """The body format InvokeModel speaks for a model: ``anthropic``, ``titan``, ``nova``, ``llama``,
    ``mistral``, or None (a model whose native body the emulator does not speak)."""
    model = resolve(model_id)
    name = model.model_id if model is not None else model_id
    for prefix, kind in (
        ("anthropic.", "anthropic"),
        ("amazon.titan-text", "titan"),
        ("amazon.nova", "nova"),
        ("meta.llama", "llama"),
        ("mistral.", "mistral"),
    ):
        if name.startswith(prefix):
            return kind
    return None
