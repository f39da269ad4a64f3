"""A real crash: `podium run` SIGKILLed while an Agent Engine answers, then `podium resume` in a new process.

The engine session was created before the crash, and podium had recorded nothing about it: the
resumed call must find that session again (by its user, podium's session id) and continue it,
not open a second conversation.
"""

from __future__ import annotations

import json
from pathlib import Path

from crash_support import HeldFirstCall, killed_mid_call, resumed
from vertex_support import write_workflow

from podium.providers.vertex.emulator import VertexEmulator


def test_a_run_killed_mid_call_resumes_in_the_same_engine_session(
    emulator: VertexEmulator, tmp_path: Path
) -> None:
    emulator.brain = brain = HeldFirstCall()  # the first call hangs until its process is dead
    seen = brain.seen
    engine = emulator.add_engine("helper")
    path = write_workflow(
        tmp_path,
        f"""
        name: crash
        defaults: {{provider: vertex, retry: {{attempts: 1}}}}
        providers: {{vertex: {json.dumps(emulator.settings())}}}
        agents:
          helper: {{vertex: {{engine: {engine}}}}}
        steps:
          ask: {{agent: helper, prompt: "What about tides?"}}
        outputs: {{answer: "{{{{ steps.ask.output }}}}"}}
        """,
    )
    killed_mid_call(path, tmp_path, brain.entered, brain.release)
    run_id = seen[0].run_id
    assert run_id

    code, out, err = resumed(run_id, tmp_path)

    assert code == 0, err
    assert json.loads(out)["outputs"] == {"answer": "answer 2"}
    streams = [e for e in emulator.requests if e.operation == "StreamQuery"]
    created = [e for e in emulator.requests if e.detail.get("method") == "create_session"]
    assert len(streams) == 2 and len(created) == 1
    assert streams[0].detail["session_id"] == streams[1].detail["session_id"] == seen[1].session_id
    assert seen[0].session_id == seen[1].session_id
