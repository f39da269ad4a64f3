"""Storage that does not grow without bound: flat bytes per step, delete, gc, sizes in `podium runs`."""

from __future__ import annotations

import json

from .helpers import FLOW, Workspace


def chain(n: int) -> str:
    lines = [
        f"name: chain-{n}",
        "agents:",
        "  k: {function: durable_agents:kilobyte}",
        "steps:",
        '  s1: {agent: k, prompt: "go"}',
    ]
    lines += [f'  s{i}: {{agent: k, needs: s{i - 1}, prompt: "next"}}' for i in range(2, n + 1)]
    return "\n".join(lines) + "\n"


def run(ws: Workspace, text: str, name: str = "flow.yaml") -> dict[str, object]:
    ws.write(text, name)
    result, data = ws.cli_json("run", name)
    assert result.code in (0, 1), result.out
    return data


def test_bytes_per_step_stay_flat_as_a_run_grows(ws: Workspace) -> None:
    small = run(ws, chain(10), "small.yaml")
    large = run(ws, chain(200), "large.yaml")
    assert small["status"] == large["status"] == "succeeded"
    sizes = {r["run_id"]: r for r in ws.cli_json("runs")[1]}
    per_step_small = sizes[small["run_id"]]["size_bytes"] / 10
    per_step_large = sizes[large["run_id"]]["size_bytes"] / 200
    assert 0.8 <= per_step_large / per_step_small <= 1.2, (per_step_small, per_step_large)
    assert per_step_large < 4 * 1024  # a 1 KB output is stored once, not once per later step
    # each 1 KB output is in the store exactly once
    for rid, n in ((small["run_id"], 10), (large["run_id"], 200)):
        (count,) = ws.sql(
            "SELECT COUNT(*) FROM events WHERE run_id=? AND data LIKE ?", (rid, "%" + "x" * 1000 + "%")
        )[0]
        assert count == n
    # and the file grows with the events, not with their square
    pages = ws.sql("PRAGMA page_count")[0][0] * ws.sql("PRAGMA page_size")[0][0]
    assert pages < 210 * 4 * 1024


def test_runs_json_shows_each_runs_size(ws: Workspace) -> None:
    small = run(ws, chain(3), "small.yaml")
    large = run(ws, chain(30), "large.yaml")
    result, listed = ws.cli_json("runs")
    assert result.code == 0
    by_id = {r["run_id"]: r for r in listed}
    assert set(by_id) == {small["run_id"], large["run_id"]}
    for r in listed:
        assert isinstance(r["size_bytes"], int) and r["size_bytes"] > 0
        assert r["events"] > 0
    assert by_id[large["run_id"]]["size_bytes"] > 5 * by_id[small["run_id"]]["size_bytes"]
    human = ws.cli("runs")
    assert human.code == 0 and small["run_id"] in human.stdout
    none_failed = ws.cli("runs", "--status", "failed")  # once "no runs yet", with two in the store
    assert none_failed.code == 0 and "no failed runs" in none_failed.stdout
    typo = ws.cli("runs", "--status", "sucess")  # once "no runs yet" too
    assert typo.code == 2 and "--status sucess: not a run status" in typo.out and "succeeded" in typo.out


def test_runs_delete_erases_a_run_and_everything_derived_from_it(ws: Workspace) -> None:
    from podium.core.store import SQLiteStore

    keep = run(ws, FLOW)
    doomed = run(ws, FLOW)
    store = SQLiteStore(ws.db)
    store.post(doomed["run_id"], "cancel", {"by": "someone"})
    store.close()
    result = ws.cli("runs", "delete", doomed["run_id"])
    assert result.code == 0, result.out
    assert f"deleted: run {doomed['run_id']}" in result.stdout
    for table in ("events", "runs", "inbox"):
        assert ws.sql(f"SELECT COUNT(*) FROM {table} WHERE run_id=?", (doomed["run_id"],)) == [(0,)]
    shown = ws.cli("show", doomed["run_id"])
    assert shown.code == 2 and "no run" in shown.stderr, shown.out
    assert ws.cli("resume", doomed["run_id"]).code == 2
    again = ws.cli("runs", "delete", doomed["run_id"])
    assert again.code == 2 and "Traceback" not in again.out
    # the other run is untouched
    assert ws.state(keep["run_id"])["status"] == "succeeded"
    assert ws.integrity() == "ok"


def test_gc_keep_failed_deletes_finished_runs_but_keeps_failed_ones_and_compacts(ws: Workspace) -> None:
    good = run(ws, FLOW, "good.yaml")
    agents_line = "w: {function: durable_agents:work}"
    failing = FLOW.replace(agents_line, agents_line + "\n  b: {function: durable_agents:boom}")
    bad = run(ws, failing.replace("s9: {agent: w,", "s9: {agent: b,"), "bad.yaml")
    assert good["status"] == "succeeded" and bad["status"] == "failed"
    for _ in range(2):  # more succeeded runs, to give gc something to free
        run(ws, FLOW, "good.yaml")
    size_before = ws.db.stat().st_size

    dry = ws.cli("gc", "--older-than", "0s", "--keep-failed", "--dry-run")
    assert dry.code == 0, dry.out
    assert good["run_id"] in dry.stdout and bad["run_id"] not in dry.stdout
    assert len(ws.run_ids()) == 4

    result = ws.cli("gc", "--older-than", "0s", "--keep-failed")
    assert result.code == 0, result.out
    assert "deleted 3 runs" in result.stdout
    assert ws.run_ids() == [bad["run_id"]]
    assert {r[0] for r in ws.sql("SELECT DISTINCT run_id FROM events")} == {bad["run_id"]}
    assert ws.db.stat().st_size < size_before
    assert ws.integrity() == "ok"
    # the failed run is still resumable after gc
    assert ws.state(bad["run_id"])["status"] == "failed"

    young = ws.cli("gc", "--older-than", "30d")
    assert young.code == 0 and "deleted 0 runs" in young.stdout
    assert ws.run_ids() == [bad["run_id"]]
    bad_age = ws.cli("gc", "--older-than", "soon")
    assert bad_age.code == 2 and "Traceback" not in bad_age.out
    too_old = ws.cli("gc", "--older-than", "99999999999d")  # overflowed the cut-off's datetime
    assert too_old.code == 2 and "longer than 100 years" in too_old.out and "Traceback" not in too_old.out
    everything = ws.cli("gc", "--older-than", "0s")
    assert everything.code == 0 and "deleted 1 run " in everything.stdout
    assert ws.run_ids() == []


def test_show_events_is_the_audit_trail(ws: Workspace) -> None:
    data = run(ws, FLOW)
    result, shown = ws.cli_json("show", data["run_id"], "--events")
    assert result.code == 0
    types = [e["type"] for e in shown["events"]]
    assert types[0] == "RunStarted" and types[-1] == "RunFinished"
    assert types.count("CallStarted") == types.count("CallFinished") == 12
    assert [e["seq"] for e in shown["events"]] == list(range(1, len(types) + 1))
    human = ws.cli("show", data["run_id"], "--events")
    assert human.code == 0 and "CallFinished" in human.stdout
    json.dumps(shown)  # plain JSON all the way down
