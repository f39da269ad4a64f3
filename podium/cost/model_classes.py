"""The model-class table: what `model: fast` (smart, reasoning, …) names on each provider.

The table is data: podium's `model_classes.yaml`, next to the price overlay, then the user's own
files (YAML, or TOML with the same `classes` table), each laid over the ones before, class by class
and provider by provider. `load_model_classes(extra_files)` is the one way to read it; the front
door (`podium.api`) lays it under each provider's `models:` when a workflow is run, validated or
deployed, so the engine and the providers only ever see `providers.<name>.models`; and
`podium cost --as-provider` reads it (through `podium.resolve.model_classes`, as a run does) to price
a class's model as that class's model on another provider.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from podium.core.errors import BadInput, Problem, WorkflowError
from podium.core.loader.positions import Path_, Positions, dotted, read_yaml

TABLE_PATH = Path(__file__).parent / "model_classes.yaml"


class ModelClassError(BadInput):
    """A model-class file is invalid; `problems` lists every problem, each with file, line and fix."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in model-class file {self.problems[0].file}"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


ModelId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ModelClass(BaseModel):
    """One class: what it is for, and its model id on each provider that has one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = Field(None, description="What the class is for, in a few words.")
    models: dict[str, ModelId] = Field(
        default_factory=dict, description="Provider name → that provider's model id for this class."
    )


class ModelClassFile(BaseModel):
    """A whole model-class file: podium's table and users' files share this format."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: dict[str, ModelClass] = Field(default_factory=dict)

    @field_validator("classes")
    @classmethod
    def _names(cls, value: dict[str, ModelClass]) -> dict[str, ModelClass]:
        for name in value:
            if not name or any(ch.isspace() for ch in name):
                raise ValueError(f"class name {name!r} must be one word, such as fast or smart")
        return value


@dataclass(frozen=True, slots=True)
class Mapped:
    """One provider's model for one class, and where that was written."""

    model: str
    where: str  # file:line


@dataclass(frozen=True, slots=True)
class ModelClasses:
    """The table, layered: each class's model by provider, where each came from, and its description.

    `where(name)` is the place to extend a class (the last file that defines it), for messages.
    """

    models: Mapping[str, Mapping[str, Mapped]] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    places: Mapping[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def names(self) -> list[str]:
        """Every class name, in the order the files define them."""
        return list(self.models)

    def __contains__(self, name: object) -> bool:
        return name in self.models

    def model(self, name: str, provider: str) -> str | None:
        """`name`'s model id on `provider`; None when `name` is not a class or has no entry there."""
        found = self.models.get(name, {}).get(provider)
        return found.model if found else None

    def providers(self, name: str) -> list[str]:
        """The providers `name` has a model on."""
        return list(self.models.get(name, {}))

    def where(self, name: str) -> str:
        """The file and line defining class `name`: the table a user extends."""
        if name in self.places:
            return self.places[name]
        return self.files[-1] if self.files else str(TABLE_PATH)

    def description(self, name: str) -> str | None:
        return self.descriptions.get(name)

    def for_provider(self, provider: str) -> dict[str, str]:
        """Class → model id on `provider`, for each class that has one there (a `models:` table)."""
        return {name: by[provider].model for name, by in self.models.items() if provider in by}

    def layered(self, file: str, content: ModelClassFile, lines: Positions | None = None) -> ModelClasses:
        """This table with `content` laid over it: its entries replace these for the same class and
        provider and add to them otherwise."""
        models = {name: dict(by) for name, by in self.models.items()}
        descriptions = dict(self.descriptions)
        places = dict(self.places)
        for name, cls in content.classes.items():
            places[name] = _where(file, lines, ("classes", name))
            if cls.description:
                descriptions[name] = cls.description
            by = models.setdefault(name, {})
            for provider, model in cls.models.items():
                by[provider] = Mapped(model, _where(file, lines, ("classes", name, "models", provider)))
        return ModelClasses(models, descriptions, places, (*self.files, file))


def _where(file: str, lines: Positions | None, path: Path_) -> str:
    probe = path
    while lines and probe:
        if probe in lines:
            return f"{file}:{lines[probe][0]}"
        probe = probe[:-1]
    return f"{file} {dotted(path)}"


def _check(data: Any, file: str, lines: Positions) -> ModelClassFile:
    """The file's content as a `ModelClassFile`, or a ModelClassError naming every problem."""
    if data is None:
        return ModelClassFile()
    problems: list[Problem] = []

    def add(path: Path_, message: str, fix: str | None) -> None:
        probe, line, col = path, None, None
        while probe:
            if probe in lines:
                line, col = lines[probe]
                break
            probe = probe[:-1]
        problems.append(Problem(file, dotted(path), message, line, col, fix))

    if not isinstance(data, dict):
        add((), "a model-class file is a mapping with one key, classes:", _FORMAT)
        raise ModelClassError(problems)
    try:
        return ModelClassFile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown key '{loc[-1]}'"
            elif err["type"] == "string_too_short":
                message = "the model id is empty"
            elif err["type"] == "string_type":
                message = f"must be a model id, as text (got {err.get('input')!r})"
            elif err["type"] in ("dict_type", "model_type"):
                message = f"must be a mapping (got {type(err.get('input')).__name__})"
            add(loc, message, _FORMAT)
        raise ModelClassError(problems) from None


_FORMAT = (
    "write it as classes: {fast: {description: …, models: {bedrock: <model id>, vertex: <model id>}}}"
    " (see docs/model-classes.md)"
)


def read_model_classes(path: str | Path) -> tuple[ModelClassFile, Positions]:
    """Read and check one model-class file (YAML, or TOML with a `classes` table) and where each
    key was written; raise ModelClassError naming each bad entry, or BadInput if it cannot be read."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BadInput(
            f"cannot read model-class file {file}: {exc.strerror or exc}",
            fix="check the path given to --model-classes (or in PODIUM_MODEL_CLASSES)",
        ) from None
    if file.endswith(".toml"):
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ModelClassError(
                [Problem(file, "", f"malformed TOML: {exc}", fix="fix the TOML syntax at that line")]
            ) from None
        return _check({"classes": data.get("classes", {})}, file, {}), {}
    try:
        data, lines = read_yaml(text, file)
    except WorkflowError as exc:  # malformed YAML, located
        raise ModelClassError(exc.problems) from None
    return _check(data, file, lines), lines


def load_model_classes(extra_files: Iterable[str | Path] = ()) -> ModelClasses:
    """podium's table with each of `extra_files` laid over it, in order (the later wins)."""
    table = _shipped()
    for path in extra_files:
        content, lines = read_model_classes(path)
        table = table.layered(str(path), content, lines)
    return table


# a memo, not state: the shipped file does not change while podium runs
@functools.cache
def _shipped() -> ModelClasses:
    content, lines = read_model_classes(TABLE_PATH)
    return ModelClasses().layered(str(TABLE_PATH), content, lines)


ENV = "PODIUM_MODEL_CLASSES"  # model-class files for every command, separated as PATH is


def process_model_classes(files: Iterable[str | Path] = ()) -> ModelClasses:
    """The table for this process: podium's, then each file in $PODIUM_MODEL_CLASSES, then `files`
    (`--model-classes`), the later winning; what `podium run` and `podium cost` both resolve with."""
    from_env = [p for p in os.environ.get(ENV, "").split(os.pathsep) if p.strip()]
    return load_model_classes([*from_env, *files])
