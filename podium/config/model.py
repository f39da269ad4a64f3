"""Pydantic models of ``podium.toml``: named profiles, each binding providers' settings and agents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class ProfileAgent(BaseModel):
    """How a profile binds one logical agent: `provider`, `model`, and a section per provider.

    A key named after a provider holds that provider's binding, exactly as under the agent in a
    workflow file (``bedrock = {agent_id = "…", alias_id = "…"}`` or ``azure = {model = "gpt-4o"}``).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    provider: str | None = Field(None, description="The provider this agent runs on under the profile.")
    model: str | None = Field(None, description="The agent's model (an id, or a name under models).")
    fallback: list[str] | None = Field(None, description="Providers to try, in order, when it fails.")

    _as_list = field_validator("fallback", mode="before")(_as_list)

    @property
    def bindings(self) -> dict[str, Any]:
        """The per-provider sections of this agent, by provider name."""
        return dict(self.model_extra or {})


class Profile(BaseModel):
    """One named profile: a default provider, providers' settings, and agents' bindings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = None
    provider: str | None = Field(None, description="The provider every agent runs on unless bound.")
    fallback: list[str] | None = Field(None, description="Providers every step falls back to, in order.")
    providers: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Settings by provider, as under providers: in a workflow."
    )
    agents: dict[str, ProfileAgent] = Field(default_factory=dict, description="Bindings by agent name.")

    _as_list = field_validator("fallback", mode="before")(_as_list)


class ConfigFile(BaseModel):
    """A whole ``podium.toml``, validated. Read one with `podium.config.read_config(path)`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_profile: str | None = Field(None, description="The profile used when none is asked for.")
    profiles: dict[str, Profile] = Field(default_factory=dict)
    # the cost plugin's own section (price entries and files); it reads and checks it itself
    prices: dict[str, Any] | None = Field(None, description="Prices for the catalog; see `podium prices`.")
    # the Temporal engine's own section (address, task_queue, namespace); podium.temporal checks it
    temporal: dict[str, Any] | None = Field(None, description="Where `--engine temporal` runs go.")

    _path: Path | None = PrivateAttr(None)
    _lines: dict[tuple[str, ...], tuple[int, int]] = PrivateAttr(default_factory=dict)

    @property
    def path(self) -> Path | None:
        """The file this configuration was read from."""
        return self._path

    def line_of(self, *path: str) -> int | None:
        """The line where a key (or the nearest enclosing one) is written, for messages."""
        probe = tuple(path)
        while probe:
            if probe in self._lines:
                return self._lines[probe][0]
            probe = probe[:-1]
        return None

    def where(self, *path: str) -> str:
        """`podium.toml:12`: the file and line of a key, as a source for people."""
        name = self._path.name if self._path else "podium.toml"
        line = self.line_of(*path)
        return f"{name}:{line}" if line else name
