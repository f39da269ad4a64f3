"""Hostile workflow files a new user writes: each gets a problem naming the file, the field and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

import podium
from podium.core.errors import WorkflowError


def _problems(path: Path) -> list:
    with pytest.raises(WorkflowError) as info:
        podium.load(path)
    assert info.value.exit_code == 2
    return info.value.problems


def test_a_symlink_loop_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    [problem] = _problems(tmp_path / "a.yaml")
    assert problem.file == str(tmp_path / "a.yaml")
    assert "cannot read" in problem.message
    assert "symbolic links" in problem.message
    assert problem.fix
