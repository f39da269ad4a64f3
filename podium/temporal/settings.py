"""Where `--engine temporal` runs go: the address, namespace and task queue, from the flags, the
environment (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `PODIUM_TASK_QUEUE`) or podium.toml's
``[temporal]`` table, checked once (a bad value names the file, the field and the fix)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from podium.core.errors import BadInput, validation_problems

DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_TASK_QUEUE = "podium"
DEFAULT_NAMESPACE = "default"


class TemporalSettings(BaseModel):
    """The ``[temporal]`` table of podium.toml, and what the flags and environment lay over it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(DEFAULT_ADDRESS, description="HOST:PORT of the Temporal frontend.")
    task_queue: str = Field(DEFAULT_TASK_QUEUE, min_length=1, description="Where workers poll.")
    namespace: str = Field(DEFAULT_NAMESPACE, min_length=1)

    def checked(self, where: str) -> TemporalSettings:
        host, sep, port = self.address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise BadInput(
                f"{where}: the Temporal address {self.address!r} is not HOST:PORT",
                fix="give it as HOST:PORT, e.g. 127.0.0.1:7233 (`temporal server start-dev` listens there)",
            )
        return self


def _from_file(start: Path) -> tuple[dict[str, object], str]:
    """The ``[temporal]`` table of the podium.toml that serves `start` (and the file's name)."""
    from podium.config.file import find_config

    path = find_config(start)
    if path is None:
        return {}, "podium.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}, str(path)  # the config reader reports a broken file with its line; not our job
    table = data.get("temporal") or {}
    if not isinstance(table, dict):
        raise BadInput(f"{path}: [temporal] must be a table", fix='[temporal]\naddress = "127.0.0.1:7233"')
    return table, str(path)


def temporal_settings(
    *,
    address: str | None = None,
    task_queue: str | None = None,
    namespace: str | None = None,
    start: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> TemporalSettings:
    """The settings a command uses: its flags, else the environment, else podium.toml, else defaults."""
    env = os.environ if environ is None else environ
    table, file = _from_file(start or Path.cwd())
    try:
        base = TemporalSettings.model_validate(table)
    except ValidationError as exc:
        raise BadInput(
            f"{file}: [temporal] {validation_problems(exc)}",
            fix="[temporal] takes address (HOST:PORT), task_queue and namespace",
        ) from None
    laid = {
        "address": address or env.get("TEMPORAL_ADDRESS") or base.address,
        "task_queue": task_queue or env.get("PODIUM_TASK_QUEUE") or base.task_queue,
        "namespace": namespace or env.get("TEMPORAL_NAMESPACE") or base.namespace,
    }
    where = "--temporal-address" if address else "TEMPORAL_ADDRESS" if env.get("TEMPORAL_ADDRESS") else file
    return TemporalSettings(**laid).checked(where)
