"""The command line as a user drives it: subprocesses, the README's demo, exit codes, JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podium.testing import run_cli

ROOT = Path(__file__).resolve().parents[2]
CLOUD_SDKS = ("boto3", "botocore", "google.genai", "google.cloud", "azure", "vertexai", "moto", "temporalio")


def podium(*args: str, db: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, db=db, cwd=cwd)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


def test_make_demo_runs_triage_on_three_clouds_then_locally_and_compares_their_costs(db: Path) -> None:
    env = {**os.environ, "PODIUM_DB": str(db), "NO_COLOR": "1", "SKIP_INSTALL": "1", "COLUMNS": "200"}
    trace = ROOT / "demo-trace.html"
    trace.unlink(missing_ok=True)
    done = subprocess.run(
        ["make", "-s", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listed = json.loads(podium("runs", "--json", db=db).stdout)
    runs = [json.loads(podium("show", r["run_id"], "--json", db=db).stdout) for r in listed]
    local, clouds = sorted(runs, key=lambda r: r["started_at"], reverse=True)[:2]
    for run in (clouds, local):
        assert run["workflow"] == "ticket-triage" and run["status"] == "succeeded"
        assert run["steps"]["signoff"]["output"]["decision"] == "approved"  # by the demo's person
        assert run["steps"]["signoff"]["output"]["by"] == "make demo"
        assert run["steps"]["review"]["calls"] == 2  # the invalid verdict, then the repaired one
        assert run["outputs"]["sent"]["queued"] is True
    # the first run spread its agents over three clouds (its podium.toml's default profile) ...
    providers = {sid: step["provider"] for sid, step in clouds["steps"].items() if step["provider"]}
    assert providers == {
        "classify": "azure", "accounts": "bedrock", "known_issues": "vertex", "entitlement": "azure",
        "draft": "bedrock", "review": "vertex", "send": "local",
    }  # fmt: skip
    # ... the second ran them all locally, with the same outputs
    assert {step["provider"] for step in local["steps"].values() if step["provider"]} == {"local"}
    assert local["outputs"] == clouds["outputs"]
    # both runs' costs side by side, with what-ifs on each cloud
    out = done.stdout
    assert clouds["run_id"] in out and local["run_id"] in out
    for column in ("as bedrock", "as vertex", "as azure"):
        assert column in out
    assert f"${clouds['cost']['total_usd'][:7]}" in out
    # and the first run's trace, as a self-contained HTML report
    html = trace.read_text(encoding="utf-8")
    assert f"trace: {trace}" in out or str(trace) in out
    for sid in clouds["steps"]:
        assert sid in html
    assert clouds["run_id"] in html and "http://" not in html and "https://" not in html


def test_run_json_with_inputs_and_the_issue_example(db: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({"topic": "tides"}))
    done = podium("run", "examples/brief/brief.yaml", "--inputs", str(inputs), "--json", db=db)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded"
    assert run["inputs"] == {"topic": "tides"}
    assert run["outputs"] == {
        "brief": {"title": "T", "body": "B"},
        "score": {"facts": 3, "score": 9},
    }
    assert run["steps"]["facts"]["output"] == "fact 1; fact 2; fact 3"
    listed = json.loads(podium("runs", "--json", db=db).stdout)
    assert [r["run_id"] for r in listed] == [run["run_id"]]
    assert listed[0]["size_bytes"] > 0


def test_bad_file_exits_2_with_file_line_and_fix_and_no_traceback(db: Path, tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: x\nagents:\n  a: {instructions: hi}\nsteps:\n  s1: {agent: a, prompt: hi}\n"
        "  draft:\n    agent: a\n    neds: [s1]\n"
    )
    for command in ("run", "validate"):
        done = podium(command, str(flow), db=db)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert f"{flow}:8:5: steps.draft.neds: unknown key 'neds'; did you mean 'needs'?" in done.stderr
        assert "fix:" in done.stderr
    assert not db.exists() or json.loads(podium("runs", "--json", db=db).stdout) == []


def test_validate_json_lists_problems(db: Path, tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: x\nagents: {a: {}}\nsteps:\n  s1: {agent: a, needs: [s2]}\n  s2: {agent: a, needs: [s1]}\n"
    )
    done = podium("validate", str(flow), "--json", db=db)
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert report["valid"] is False
    assert any("cycle" in p["message"] and "→" in p["message"] for p in report["problems"])
    ok = podium("validate", "examples/research/research.yaml", "--json", db=db)
    assert ok.returncode == 0 and json.loads(ok.stdout)["valid"] is True
    assert json.loads(ok.stdout)["levels"][0] == ["science", "economics", "policy"]
    shown = podium("validate", "examples/research/research.yaml", db=db)
    # parallel steps read as parallel, not as a sequence
    assert "[science, economics, policy] → [draft]" in shown.stdout


def test_input_errors_exit_2(db: Path, tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: x\ninputs: {n: {type: integer}}\nagents: {a: {}}\n"
        "steps: {s: {agent: a, prompt: '{{ inputs.n }}'}}\nmock: {a: ok}\n"
    )
    missing = podium("run", str(flow), db=db)
    assert missing.returncode == 2 and "missing required input 'n'" in missing.stderr
    wrong = podium("run", str(flow), "-i", "n=three", db=db)
    assert wrong.returncode == 2 and "input 'n' must be integer" in wrong.stderr
    unknown = podium("run", str(flow), "-i", "m=3", db=db)
    assert unknown.returncode == 2 and "did you mean 'n'" not in unknown.stderr
    assert "'m' is not an input" in unknown.stderr
    provider = podium("run", str(flow), "-i", "n=3", "--provider", "nope", db=db)
    assert provider.returncode == 2 and "installed: " in provider.stderr and "local" in provider.stderr
    good = podium("run", str(flow), "-i", "n=3", "--json", db=db)
    assert good.returncode == 0 and json.loads(good.stdout)["steps"]["s"]["output"] == "ok"


def test_failed_run_exits_1_and_show_names_the_step_and_cause(db: Path, tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: x\nagents: {a: {}}\nsteps:\n  one: {agent: a, prompt: go}\n"
        "  two: {agent: a, needs: [one], prompt: go}\n"
        "mock:\n  one: {error: invalid_request, reply: no such model}\n  two: fine\n"
    )
    done = podium("run", str(flow), db=db)
    assert done.returncode == 1
    assert "step 'one' failed: invalid_request" in done.stdout
    run = json.loads(podium("show", "latest", "--json", db=db).stdout)
    assert run["status"] == "failed"
    assert run["error"]["step"] == "one" and run["error"]["kind"] == "invalid_request"
    assert run["steps"]["two"]["status"] == "pending"  # never started
    events = json.loads(podium("show", "latest", "--json", "--events", db=db).stdout)["events"]
    assert events[0]["type"] == "RunStarted"
    assert events[-1]["type"] == "RunFinished"


def test_unknown_run_is_bad_input(db: Path) -> None:
    done = podium("show", "nope", db=db)
    assert done.returncode == 2 and "no run 'nope'" in done.stderr and "podium runs" in done.stderr


def test_ctrl_c_cancels_cleanly_and_the_run_can_be_inspected(db: Path, tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: slow\nagents: {a: {}}\nsteps:\n  fast: {agent: a, prompt: go}\n"
        "  slow: {agent: a, needs: [fast], prompt: go}\n"
        "mock:\n  fast: done\n  slow: {reply: late, latency: 30}\n"
    )
    env = {**os.environ, "PODIUM_DB": str(db), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "run", str(flow)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C reaches it as in a terminal, even when the suite runs as a background job (whose
        # shell ignores SIGINT for its children, and Python keeps it ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:  # wait until the slow call is in flight
        shown = podium("show", "latest", "--json", db=db)
        if shown.returncode == 0 and json.loads(shown.stdout)["steps"]["slow"]["calls"] == 1:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"the slow call was never seen in flight:\n{shown.stdout}{out}{err}")
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "cancelled" in err and "Traceback" not in err
    run = json.loads(podium("show", "latest", "--json", db=db).stdout)
    assert run["status"] == "cancelled"
    assert run["steps"]["fast"]["status"] == "succeeded"
    assert run["steps"]["fast"]["output"] == "done"
    assert run["steps"]["slow"]["status"] == "cancelled"  # nothing is left running


def test_cli_start_up_loads_no_cloud_sdk() -> None:
    # what the interpreter loads before podium runs (a namespace package's .pth file can put an
    # empty `google.cloud` in sys.modules at start-up) is not podium's doing
    probe = (
        "import sys, runpy\n"
        "before = set(sys.modules)\n"
        "sys.argv = ['podium', '--help']\n"
        "try:\n    runpy.run_module('podium', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted(m for m in set(sys.modules) - before if m.startswith({CLOUD_SDKS!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "Commands:" in done.stdout and "run" in done.stdout


def test_providers_lists_local(db: Path) -> None:
    done = podium("providers", "--json", db=db)
    assert done.returncode == 0
    names = [p["name"] for p in json.loads(done.stdout)["providers"]]
    assert "local" in names


@pytest.mark.parametrize("width", [60, 80, 120])
def test_show_fits_the_terminal_and_never_cuts_names_statuses_or_numbers(db: Path, width: int) -> None:
    ran = podium("run", "examples/research/research.yaml", "-q", "--json", db=db)
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)
    env = {**os.environ, "PODIUM_DB": str(db), "NO_COLOR": "1", "COLUMNS": str(width)}
    shown = subprocess.run(
        [sys.executable, "-m", "podium", "show", run["run_id"]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    lines = shown.stdout.splitlines()
    table = [line for line in lines if any(f" {sid} " in f" {line} " for sid in run["steps"])]
    assert all(len(line) <= width for line in lines if not line.startswith(("{", " ", '"', "}")))
    for sid, step in run["steps"].items():
        [row] = [line for line in table[: len(run["steps"])] if f" {sid} " in f" {line} "]
        assert step["status"] in row  # whole, never "succe…"
        assert f"{step['usage']['input_tokens']:,}" in row and f"{step['usage']['output_tokens']:,}" in row
    if width < 80:
        assert "output / error" not in shown.stdout  # the preview gives way first
    if width >= 120:
        assert "output / error" in shown.stdout
    total = run["cost"]["total_usd"].rstrip("0")
    assert any(total[:6] in line for line in lines if "total" in line)  # the dollars, whole


def test_show_step_prints_one_step_in_full(db: Path) -> None:
    ran = json.loads(podium("run", "examples/research/research.yaml", "-q", "--json", db=db).stdout)
    shown = podium("show", ran["run_id"], "--step", "review", db=db)
    assert shown.returncode == 0, shown.stderr
    out = " ".join(shown.stdout.split())  # as read, whatever the wrapping
    # both calls, the rejected reply and the repair, the output, and what it was bound to
    assert "call 1 → local" in out and "call 2 → local" in out and "(repair)" in out
    assert '"score": 14' in out and "greater than the maximum of 10" in out
    assert "(asking the agent to fix its reply)" in out
    assert "bound to local mock review" in out  # what it ran on: the scripted reply
    assert "cost" in out and "$" in out
    as_json = json.loads(podium("show", ran["run_id"], "--step", "review", "--json", db=db).stdout)
    assert as_json["status"] == "succeeded" and as_json["output"]["score"] == 6
    assert [e["type"] for e in as_json["events"]].count("CallFinished") == 2
    wrong = podium("show", ran["run_id"], "--step", "reviw", db=db)
    assert wrong.returncode == 2 and "did you mean 'review'" in wrong.stderr


def test_show_events_prints_every_value_whole(db: Path, tmp_path: Path) -> None:
    long = "x" * 300 + " the end"
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        f"name: e\nagents: {{a: {{}}}}\nsteps: {{s: {{agent: a, prompt: go}}}}\nmock: {{s: '{long}'}}\n"
    )
    ran = json.loads(podium("run", str(flow), "-q", "--json", db=db).stdout)
    env = {**os.environ, "PODIUM_DB": str(db), "NO_COLOR": "1", "COLUMNS": "100"}
    shown = subprocess.run(
        [sys.executable, "-m", "podium", "show", ran["run_id"], "--events"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    flat = "".join(line.strip("│ ┃") for line in shown.stdout.splitlines())
    assert "the end" in flat and "…" not in flat.split("events")[-1]


def test_a_python_agent_that_raises_keeps_its_traceback_trimmed_to_the_users_frames(
    db: Path, tmp_path: Path
) -> None:
    (tmp_path / "mine.py").write_text(
        "def helper(x):\n    return 1 / x\n\n\ndef score(prompt):\n    return helper(0)\n"
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text('name: tb\nagents: {s: {function: "mine:score"}}\nsteps: {go: {agent: s, prompt: hi}}\n')
    ran = podium("run", str(flow), "-q", "--json", db=db)
    assert ran.returncode == 1
    run = json.loads(ran.stdout)
    trace = run["steps"]["go"]["error"]["traceback"]
    assert "mine.py" in trace and "line 2, in helper" in trace and "ZeroDivisionError" in trace
    assert "podium" not in trace.replace(str(tmp_path), "")  # none of podium's own frames
    events = json.loads(podium("show", run["run_id"], "--events", "--json", db=db).stdout)["events"]
    failed = [e for e in events if e["type"] == "CallFailed"]
    assert "line 2, in helper" in failed[0]["data"]["traceback"]
    plain = podium("show", run["run_id"], db=db).stdout
    assert "line 2, in helper" not in plain and "--step go" in plain
    debug = podium("--debug", "show", run["run_id"], db=db).stdout
    assert "line 2, in helper" in debug
    assert "line 2, in helper" in podium("show", run["run_id"], "--step", "go", db=db).stdout
