"""The model-class table: podium's classes on every cloud, each one priced, and users' files laid over it."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from podium.core.errors import BadInput
from podium.cost.catalog import Rate, load_catalog
from podium.cost.model_classes import TABLE_PATH, ModelClassError, load_model_classes

CLOUDS = ("bedrock", "vertex", "azure", "local")


def write(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_podiums_classes_name_a_model_on_every_provider() -> None:
    table = load_model_classes()
    assert table.names()[:3] == ["fast", "smart", "reasoning"]
    for name in ("fast", "smart", "reasoning"):
        assert set(table.providers(name)) >= set(CLOUDS), name
    assert table.model("fast", "bedrock") == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert table.model("smart", "vertex") == "gemini-2.5-pro"
    assert table.model("fast", "azure") == "gpt-4o-mini"
    assert table.for_provider("vertex")["fast"] == "gemini-2.5-flash"
    assert table.description("reasoning")


def test_every_model_in_the_table_is_priced_so_a_run_on_a_class_is_never_unpriced() -> None:
    catalog = load_catalog()
    table = load_model_classes()
    today = datetime.now(UTC)
    for name in table.names():
        for provider in table.providers(name):
            model = table.model(name, provider)
            quote = catalog.rate(provider, model, today)
            assert isinstance(quote, Rate), f"{name} on {provider}: {model} is unpriced ({quote})"


def test_an_unknown_name_or_provider_maps_to_nothing() -> None:
    table = load_model_classes()
    assert table.model("us.anthropic.claude-haiku-4-5-20251001-v1:0", "bedrock") is None
    assert table.model("fast", "nowhere") is None
    assert "fast" in table and "gpt-4o" not in table


def test_a_users_file_replaces_the_entries_it_names_and_adds_classes(tmp_path: Path) -> None:
    mine = write(
        tmp_path,
        """
        classes:
          fast:
            models:
              azure: gpt-4.1-nano
          tiny:
            description: the smallest that works
            models:
              bedrock: us.amazon.nova-micro-v1:0
        """,
    )
    table = load_model_classes([mine])
    assert table.model("fast", "azure") == "gpt-4.1-nano"
    assert table.model("fast", "vertex") == "gemini-2.5-flash"  # the rest of the class is kept
    assert table.model("tiny", "bedrock") == "us.amazon.nova-micro-v1:0"
    assert table.providers("tiny") == ["bedrock"]
    assert table.where("tiny") == f"{mine}:5"
    assert table.models["fast"]["azure"].where == f"{mine}:4"
    assert table.where("smart").startswith(f"{TABLE_PATH}:")
    assert load_model_classes().model("fast", "azure") == "gpt-4o-mini"  # podium's table is untouched


def test_later_files_win(tmp_path: Path) -> None:
    one = write(tmp_path, "classes: {fast: {models: {local: llama3.2}}}", "one.yaml")
    two = write(tmp_path, "classes: {fast: {models: {local: qwen2.5}}}", "two.yaml")
    assert load_model_classes([one, two]).model("fast", "local") == "qwen2.5"
    assert load_model_classes([two, one]).model("fast", "local") == "llama3.2"


def test_a_toml_file_holds_the_same_table(tmp_path: Path) -> None:
    path = tmp_path / "podium.toml"
    path.write_text('[classes.fast.models]\nlocal = "llama3.2"\n', encoding="utf-8")
    assert load_model_classes([path]).model("fast", "local") == "llama3.2"


def test_every_problem_in_a_file_is_named_with_its_line_and_the_fix(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        """
        classes:
          fast:
            modles: {azure: gpt-4o-mini}
          smart:
            models:
              azure: 4
              vertex: ""
        """,
    )
    with pytest.raises(ModelClassError) as caught:
        load_model_classes([bad])
    problems = {p.field: p for p in caught.value.problems}
    assert set(problems) == {
        "classes.fast.modles", "classes.smart.models.azure", "classes.smart.models.vertex"
    }  # fmt: skip
    assert problems["classes.fast.modles"].line == 3
    assert "unknown key 'modles'" in problems["classes.fast.modles"].message
    assert problems["classes.smart.models.azure"].line == 6
    assert "must be a model id" in problems["classes.smart.models.azure"].message
    empty = problems["classes.smart.models.vertex"]
    assert "empty" in empty.message and empty.line == 7
    assert all(p.fix and "docs/model-classes.md" in p.fix for p in caught.value.problems)
    assert str(bad) in str(caught.value)


def test_malformed_yaml_is_located(tmp_path: Path) -> None:
    bad = write(tmp_path, "classes:\n  fast: {models: [\n")
    with pytest.raises(ModelClassError) as caught:
        load_model_classes([bad])
    [problem] = caught.value.problems
    assert problem.file == str(bad) and problem.line is not None and "malformed YAML" in problem.message


def test_a_file_that_is_not_there_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read model-class file") as caught:
        load_model_classes([tmp_path / "missing.yaml"])
    assert "--model-classes" in (caught.value.fix or "")
