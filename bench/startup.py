"""Start-up: fresh interpreters timed from spawn to exit, and the cloud SDK modules podium loads.

Each command runs `repeat` times, interleaved with the others so that a busy moment on the machine
hits them all alike, and the best time is kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

PYTHON = sys.executable
PODIUM = str(Path(PYTHON).with_name("podium"))

# Top-level packages of the cloud SDKs (and what they pull in) that `import podium` and
# `podium --help` must not load: the providers import them lazily, inside their calls.
CLOUD_SDKS = (
    "boto3",
    "botocore",
    "s3transfer",
    "aiobotocore",
    "google.cloud",
    "google.genai",
    "google.auth",
    "google.api_core",
    "vertexai",
    "azure",
    "openai",
    "opentelemetry",
    "moto",
)

COMMANDS: dict[str, list[str]] = {
    "bare": [PYTHON, "-c", "pass"],
    "import podium": [PYTHON, "-c", "import podium"],
    "podium engine": [PYTHON, "-c", "import podium; podium.arun"],
    "podium --help": [PODIUM, "--help"],
    "langgraph": [PYTHON, "-c", "from langgraph.graph import StateGraph"],
}

# modules the interpreter loaded before podium (a namespace package's .pth file can) are not counted
_LOADED = """
import sys
before = set(sys.modules)
{setup}
roots = {roots!r}
print(__import__("json").dumps(sorted(
    m for m in set(sys.modules) - before if any(m == r or m.startswith(r + ".") for r in roots)
)))
"""
_HELP = """
import contextlib, io
from podium.cli import main
sys.argv = ["podium", "--help"]
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main()
"""


def times(repeat: int = 15) -> dict[str, float]:
    """Best wall time in seconds of each command, from spawn to exit."""
    best = dict.fromkeys(COMMANDS, float("inf"))
    for _ in range(repeat):
        for name, argv in COMMANDS.items():
            started = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def cloud_modules() -> dict[str, list[str]]:
    """The cloud SDK modules in sys.modules after `import podium`, and after `podium --help`."""
    out = {}
    for name, setup in (("import podium", "import podium"), ("podium --help", _HELP)):
        code = _LOADED.format(setup=setup, roots=CLOUD_SDKS)
        done = subprocess.run([PYTHON, "-c", code], check=True, capture_output=True, text=True)
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out
