"""Hostile workflow files (issue 16): each is refused with a clear error, or fails its step cleanly.

The files are kept next to this module; each case failed (a hang, a traceback, a network fetch, user
code run by `validate`) before podium guarded against it.
"""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import podium
from podium.config.file import parse_config
from podium.core.calls import AgentResponse
from podium.core.errors import ConfigError, OutputInvalid, WorkflowError
from podium.core.functions import import_function
from podium.core.loader import load, parse
from podium.core.outputs import parse_output
from podium.core.templates import render
from podium.testing import run_cli

HERE = Path(__file__).resolve().parent


def problems_of(path: Path) -> list[str]:
    with pytest.raises(WorkflowError) as caught:
        load(path)
    return [str(p) for p in caught.value.problems]


# --- finding 1: YAML (and TOML) that expands or nests without bound --------------------------------------


def test_an_alias_bomb_is_refused_with_exit_2_naming_the_file_and_line(tmp_path: Path) -> None:
    # the timeout only guards the suite: before the cap this took minutes and gigabytes
    done = run_cli("validate", str(HERE / "alias_bomb.yaml"), db=tmp_path / "runs.db", timeout=60)
    assert done.returncode == 2, done.stderr
    assert "alias_bomb.yaml:12:" in done.stderr  # the alias that went over the budget
    assert "alias bomb" in done.stderr
    assert "Traceback" not in done.stderr


def test_shared_blocks_named_once_and_aliased_on_every_step_still_load() -> None:
    steps = "\n".join(f"  s{i}: {{agent: a, prompt: hi, retry: *retry}}" for i in range(300))
    wf = parse(
        "name: shared\nagents:\n  a: {instructions: x}\n"
        "defaults: {retry: &retry {attempts: 3, backoff: 0.5}}\n"
        f"steps:\n{steps}\n"
    )
    assert wf.steps["s299"].retry is not None and wf.steps["s299"].retry.attempts == 3


def test_an_anchor_holding_an_alias_of_itself_is_refused() -> None:
    with pytest.raises(WorkflowError) as caught:
        parse("name: r\nagents: &a [*a]\n", file="self.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 2 and "inside its own anchor" in problem.message


def test_nesting_300_levels_deep_is_a_clear_error_not_a_recursion_error() -> None:
    (problem,) = problems_of(HERE / "deep_nesting.yaml")
    assert "deep_nesting.yaml:6:" in problem
    assert "nests deeper than 100 levels" in problem


@pytest.mark.parametrize("layout", ["flow", "block"])
def test_nesting_a_hundred_thousand_levels_deep_is_refused_as_it_is_read(layout: str) -> None:
    n = 100_000
    body = "[" * n + "]" * n if layout == "flow" else "\n" + "- " * n + "x"
    with pytest.raises(WorkflowError) as caught:
        parse(f"name: d\nsteps: {body}\n", file="deep.yaml")
    (problem,) = caught.value.problems
    assert "nests deeper than 100 levels" in problem.message and problem.line is not None


# --- findings 8 and 9: the python a workflow names ---------------------------------------------


def test_a_json_py_next_to_the_workflow_serves_json_f_and_leaves_the_standard_json_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    shutil.copytree(HERE / "shadow", tmp_path / "shadow")
    run = podium.run(tmp_path / "shadow" / "shadow.yaml", store=tmp_path / "runs.db")
    assert run.ok, run.error
    assert run.steps["a"].output == "local json.f got hello"
    # what podium and everything else in the process import as json is still the standard one
    assert sys.modules["json"] is json and json.dumps([1]) == "[1]"
    local = import_function("json:f", tmp_path / "shadow")
    assert local.__module__.startswith("_podium_local_")  # the workflow's json, under a private name
    assert run.usage.input_tokens > 0  # the mocked writer's call was metered
    assert not [r for r in caplog.records if "metering" in r.getMessage()]  # "cost: metering … failed"


def test_validate_reads_the_functions_a_workflow_names_and_runs_none_of_them(tmp_path: Path) -> None:
    shutil.copytree(HERE / "side_effects", tmp_path / "fx")
    problems = problems_of(tmp_path / "fx" / "flow.yaml")
    assert len(problems) == 1 and "flow.yaml:5:" in problems[0]  # b names agents:missing
    assert "has no attribute 'missing'" in problems[0]
    assert not (tmp_path / "fx" / "IMPORTED").exists()  # agents.py was read, never run

    run = podium.run(tmp_path / "fx" / "run.yaml", store=tmp_path / "runs.db")
    assert run.ok and run.steps["s"].output == "answered hi"
    assert (tmp_path / "fx" / "IMPORTED").read_text() == "agents.py ran"  # imported at run time


# --- finding 3: output schemas' $refs ----------------------------------------------------------


@pytest.fixture
def counting_server() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on 127.0.0.1 that answers every GET with a schema, and records the paths."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b'{"type": "object"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_remote_and_outside_refs_stop_run_with_exit_2_and_nothing_is_fetched(
    tmp_path: Path, counting_server: tuple[int, list[str]]
) -> None:
    port, seen = counting_server
    flow = tmp_path / "flows" / "remote.yaml"
    flow.parent.mkdir()
    flow.write_text((HERE / "refs" / "remote.yaml").read_text().replace("{port}", str(port)))
    done = run_cli("run", str(flow), db=tmp_path / "runs.db", timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    for field, why in [
        ("types.Remote", "not a local reference"),
        ("steps.https.output.schema", "not a local reference"),
        ("steps.file.output.schema", "not a local reference"),
        ("steps.absolute.output.schema", "not a local reference"),
        ("steps.outside.output.schema", "outside the workflow's folder"),
        ("steps.nowhere.output.schema", "points to nothing"),
    ]:
        line = next(x for x in done.stderr.splitlines() if f" {field}: " in x)
        assert why in line and "remote.yaml:" in line
    assert seen == []  # not one request


def test_local_refs_are_read_at_load_and_validate_replies_at_run_time(tmp_path: Path) -> None:
    shutil.copytree(HERE / "refs", tmp_path / "refs")
    wf = load(tmp_path / "refs" / "local.yaml")
    (tmp_path / "refs" / "addr.json").unlink()  # read when loaded: the run reads no file
    run = podium.run(wf, store=tmp_path / "runs.db")
    assert run.steps["good"].output == {"name": "n", "address": {"city": "Lyon"}}
    error = run.steps["bad"].error
    assert error is not None and "at address/city: 3 is not of type 'string'" in error.message


def test_a_workflow_made_in_code_resolves_no_remote_ref_at_run_time(
    counting_server: tuple[int, list[str]],
) -> None:
    port, seen = counting_server
    schema = {"$ref": f"http://127.0.0.1:{port}/schema.json"}
    with pytest.raises(OutputInvalid, match="was not resolved when the workflow was loaded"):
        parse_output(AgentResponse(text="{}"), schema)
    assert seen == []


# --- output schemas' patterns that backtrack ---------------------------------------------------

# `re` takes about a second on this (2**24 ways to split the a's), minutes with a few more; the
# bound below is far shorter, so only a bounded match says "took longer"
SLOW_PATTERN, SLOW_TEXT = "^(a|a)*$", "a" * 24 + "b"


@pytest.fixture
def short_pattern_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from podium.core import schema_patterns

    monkeypatch.setattr(schema_patterns, "PATTERN_SECONDS", 0.05)


@pytest.mark.parametrize(
    ("schema", "reply"),
    [
        ({"type": "string", "pattern": SLOW_PATTERN}, f'"{SLOW_TEXT}"'),
        ({"type": "object", "patternProperties": {SLOW_PATTERN: {}}}, f'{{"{SLOW_TEXT}": 1}}'),
        (
            # additionalProperties first: it is the keyword that meets the key first
            {"type": "object", "additionalProperties": False, "patternProperties": {SLOW_PATTERN: {}}},
            f'{{"{SLOW_TEXT}": 1}}',
        ),
        ({"type": "object", "propertyNames": {"pattern": SLOW_PATTERN}}, f'{{"{SLOW_TEXT}": 1}}'),
    ],
    ids=["pattern", "patternProperties", "additionalProperties", "propertyNames"],
)
def test_a_pattern_that_backtracks_refuses_the_reply_in_bounded_time(
    short_pattern_bound: None, schema: dict[str, object], reply: str
) -> None:
    # with `re`, a reply could hold the loop for minutes: no step timeout or cancel could end it
    with pytest.raises(OutputInvalid) as caught:
        parse_output(AgentResponse(text=reply), schema)
    assert f"took longer than 0.05s to match '{SLOW_PATTERN}'" in caught.value.message
    assert "repetition inside a repetition" in (caught.value.fix or "")


@pytest.mark.parametrize(
    ("schema", "reply", "refusal"),
    [
        ({"type": "string", "pattern": "^[a-z]+$"}, '"abc"', None),
        ({"type": "string", "pattern": "^[a-z]+$"}, '"ab1"', "'ab1' does not match '^[a-z]+$'"),
        ({"type": "string", "pattern": "b"}, '"abc"', None),  # searched, not anchored: as JSON Schema says
        ({"patternProperties": {"^x": {"type": "integer"}}}, '{"x1": "no"}', "'no' is not of type 'integer'"),
        (
            {"patternProperties": {"^x": {}}, "additionalProperties": False},
            '{"x1": 1, "y": 2}',
            "'y' does not",
        ),
        (
            {"patternProperties": {"^x": {}}, "additionalProperties": {"type": "string"}},
            '{"y": 2}',
            "2 is not",
        ),
        (
            {"properties": {"y": {}}, "patternProperties": {"^x": {}}, "additionalProperties": False},
            '{"y": 2}',
            None,
        ),
    ],
)
def test_bounded_patterns_accept_and_refuse_as_jsonschema_does(
    schema: dict[str, object], reply: str, refusal: str | None
) -> None:
    from jsonschema import Draft202012Validator

    expected = list(Draft202012Validator(schema).iter_errors(__import__("json").loads(reply)))
    assert bool(expected) == (refusal is not None)
    if refusal is None:
        parse_output(AgentResponse(text=reply), schema)
        return
    with pytest.raises(OutputInvalid) as caught:
        parse_output(AgentResponse(text=reply), schema)
    assert refusal in caught.value.message and expected[0].message in caught.value.message


def test_a_run_whose_reply_backtracks_a_pattern_fails_its_step_and_ends(
    short_pattern_bound: None, tmp_path: Path
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "name: t\nagents: {w: {provider: local}}\n"
        f"types: {{Word: {{type: string, pattern: '{SLOW_PATTERN}'}}}}\n"
        "steps:\n  a: {agent: w, prompt: hi, output: Word}\n"
        f"mock: {{a: {SLOW_TEXT}}}\n"
    )
    run = podium.run(path, store=tmp_path / "runs.db")
    assert run.status == "failed"
    error = run.steps["a"].error
    assert error is not None and error.kind == "output_invalid" and "took longer" in error.message


# --- finding 4: templates that spend -----------------------------------------------------------


def test_templates_that_spend_fail_their_step_clearly_and_macros_are_defined(tmp_path: Path) -> None:
    wf = load(HERE / "templates.yaml")  # validates: greet is the template's own macro
    run = podium.run(wf, store=tmp_path / "runs.db")
    errors = {sid: (s.error.message if s.error else None) for sid, s in run.steps.items()}
    # the step's own timeout (0.3 s) bounds its rendering, below the render budget
    assert "steps.loops.prompt: rendering took longer than 0.3s" in (errors["loops"] or "")
    assert "steps.strings.prompt: rendering took longer than 0.3s" in (errors["strings"] or "")
    assert "center filter's argument 1,000,000,000 is past" in (errors["wide"] or "")
    assert "the output passed the 10,000,000 characters" in (errors["long"] or "")
    assert errors["greet"] is None and run.steps["greet"].output == "ok"
    events = podium.get_run(run.run_id, store=tmp_path / "runs.db")
    assert events.status == "failed"


def test_a_template_within_budget_renders_as_before() -> None:
    source = "{% macro li(x) %}- {{ x }}\n{% endmacro %}{% for t in topics %}{{ li(t | upper) }}{% endfor %}"
    assert render(source, {"topics": ["a", "b"]}, where="p") == "- A\n- B\n"
    assert render("{{ n ** 3 }}", {"n": 4}, where="p") == 64


def test_a_podium_toml_nested_past_what_tomllib_reads_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("x = " + "[" * 100_000 + "]" * 100_000 + "\n", file="podium.toml")
    (problem,) = caught.value.problems
    assert problem.file == "podium.toml" and "nests too deep" in problem.message
