"""Helpers for the model-class tests: a workflow file, and each cloud's emulator with a scripted brain."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from podium.core.spec import Workflow
from podium.providers._kit.brains import ScriptedBrain

MOCK = {
    "triage": {"reply": "billing", "usage": {"input_tokens": 40, "output_tokens": 2}},
    "answer": {"reply": "Your refund is on its way.", "usage": {"input_tokens": 90, "output_tokens": 12}},
}
# what podium's table says `fast` and `smart` are on each cloud (podium/cost/model_classes.yaml)
FAST = {
    "bedrock": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "vertex": "gemini-2.5-flash",
    "azure": "gpt-4o-mini",
    "local": "gpt-4o-mini",
}
SMART = {
    "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "vertex": "gemini-2.5-pro",
    "azure": "gpt-4o",
    "local": "gpt-4o",
}


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def triage_flow(tmp_path: Path, *, triager: str = "fast", extra: str = "") -> Path:
    """A two-step workflow whose agents name model classes (or `triager`'s model), scripted by MOCK."""
    return write(
        tmp_path,
        f"""
        name: triage
        defaults: {{provider: local, retry: {{attempts: 1}}}}
        agents:
          triager: {{instructions: Sort the ticket into one word., model: {triager}}}
          helper: {{instructions: Answer the customer., model: smart}}
        steps:
          triage: {{agent: triager, prompt: "My refund is late"}}
          answer: {{agent: helper, needs: [triage], prompt: "A {{{{ steps.triage.output }}}} ticket"}}
        outputs: {{kind: "{{{{ steps.triage.output }}}}", reply: "{{{{ steps.answer.output }}}}"}}
        mock:
          triage: {{reply: billing, usage: {{input_tokens: 40, output_tokens: 2}}}}
          answer: {{reply: Your refund is on its way., usage: {{input_tokens: 90, output_tokens: 12}}}}
        {textwrap.indent(textwrap.dedent(extra), " " * 8).strip()}
        """,
    )


def emulator(cloud: str) -> Any:
    """`cloud`'s emulator (not started), answering from MOCK as the workflow's mock: would."""
    mock = Workflow.model_validate({"name": "w", "steps": {"s": {"agent": "a"}}, "mock": MOCK}).mock
    brain = ScriptedBrain(mock, provider=cloud)
    if cloud == "bedrock":
        from podium.providers.bedrock.emulator import BedrockEmulator

        return BedrockEmulator(brain)
    if cloud == "vertex":
        from podium.providers.vertex.emulator import VertexEmulator

        return VertexEmulator(brain)
    from podium.providers.azure.emulator import AzureEmulator

    # only these deployments exist in the emulated project: a model id it lacks is Azure's own 404
    return AzureEmulator(brain, deployments={"gpt-4o-mini", "gpt-4o", "gpt-4.1-nano"})


def models_called(emu: Any) -> list[str]:
    """The model ids the emulator was asked for, in order."""
    return [r.detail["model"] for r in emu.requests if "model" in r.detail]
