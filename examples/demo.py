"""`make demo`: the triage workflow on three clouds' emulators, then with no cloud at all, side by side.

Each step is a podium command, printed before it runs, exactly as you would type it:

1. `podium run examples/triage/triage.yaml --emulate`: the workflow on the emulators of Bedrock,
   Vertex and Azure (its podium.toml's default profile spreads the agents over the three), through
   the real cloud SDKs, until the sign-off step waits for a person;
2. `podium approve … signoff` (the demo approves it for you), then `podium resume … --trace
   demo-trace.html`: the reply goes out, and the run's trace is written as an HTML report;
3. the same workflow with `--profile local`, approved and resumed the same way;
4. `podium cost RUN1 RUN2 --by run,provider --as-provider …`: both runs' costs side by side, with
   what each would have cost on each cloud.

No credentials and no network: every agent answers from the workflow's `mock:` section.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOW = "examples/triage/triage.yaml"
TRACE = "demo-trace.html"
PODIUM = [sys.executable, "-m", "podium"]


def podium(*args: str, capture: bool = False, ok: tuple[int, ...] = (0,)) -> str:
    """Run one podium command as a user would, printing it first; its output goes to the terminal."""
    print(f"\n$ podium {shlex.join(args)}", flush=True)
    done = subprocess.run(
        [*PODIUM, *args], cwd=ROOT, text=True, stdout=subprocess.PIPE if capture else None, check=False
    )
    if done.returncode not in ok:
        sys.exit(f"demo: `podium {shlex.join(args)}` exited {done.returncode}")
    return done.stdout or ""


def latest_run() -> str:
    shown = json.loads(subprocess.run([*PODIUM, "show", "latest", "--json"], cwd=ROOT, text=True,
                                      capture_output=True, check=True).stdout)  # fmt: skip
    return str(shown["run_id"])


def triage(*extra: str, trace: str | None = None) -> str:
    """Run the workflow to its sign-off, approve it as the demo's person, resume it to the end."""
    podium("run", FLOW, *extra, ok=(1,))  # 1: it waits for the sign-off
    run_id = latest_run()
    podium("approve", run_id, "signoff", "--by", "make demo", "--comment", "auto-approved in the demo")
    tracing = ("--trace", trace) if trace else ()
    podium("resume", run_id, *extra, *tracing)
    return run_id


def main() -> None:
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    clouds = triage("--emulate", trace=TRACE)
    local = triage("--profile", "local", "-q")
    podium("cost", clouds, local, "--by", "run,provider", "--as-provider", "bedrock,vertex,azure")
    trace = ROOT / TRACE
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    print(
        f"\nThe first run on three clouds, then the same workflow with no cloud ({local}).\n"
        f"Its trace: {trace}\n  open it with: {opener} {TRACE}   (or: python -m webbrowser {TRACE})\n"
        f"Look again: podium show {clouds} --events   ·   podium trace {clouds}   ·   podium cost {clouds}"
    )


if __name__ == "__main__":
    main()
