"""Profiles: ``podium.toml`` read once into pydantic models, and a workflow resolved under one of them.

`configure` applies a profile, the environment and the CLI's flags to a workflow, in that order of
strength (see `podium.config.resolve`), and records where each value came from.
"""

from __future__ import annotations

from podium.config.file import CONFIG_FILE, find_config, home_config, parse_config, read_config
from podium.config.model import ConfigFile, Profile, ProfileAgent
from podium.config.resolve import (
    ENV_PROFILE,
    ENV_PROVIDER,
    AgentBinding,
    Configured,
    Sourced,
    configure,
    load_config,
)

__all__ = [
    "CONFIG_FILE",
    "ENV_PROFILE",
    "ENV_PROVIDER",
    "AgentBinding",
    "ConfigFile",
    "Configured",
    "Profile",
    "ProfileAgent",
    "Sourced",
    "configure",
    "find_config",
    "home_config",
    "load_config",
    "parse_config",
    "read_config",
]
