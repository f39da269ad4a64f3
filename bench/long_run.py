"""One long run in a process of its own, so that its peak RSS is its own: prints a JSON line.

    python bench/long_run.py podium memory 10000         # Engine.run, MemoryStore
    python bench/long_run.py podium resume 10000         # SQLiteStore: fails at its last step; Engine.resume
    python bench/long_run.py langgraph none 10000        # the same graph, no checkpointer
    python bench/long_run.py langgraph resume-dag 10000  # SQLite checkpointer, durability="exit"; resume
    python bench/long_run.py langgraph resume-loop 10000 # the loop shape, SQLite, durability="sync"; resume

The JSON has, in KiB, the RSS after the imports and after building the workflow (podium parses its
workflow file; LangGraph builds and compiles its StateGraph), and the process's peak RSS at the
end (`peak_kib`); with the run's or the resume's seconds.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from workloads import Chain


def _status(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_kib() -> int:
    """This process's peak RSS in KiB.

    Linux's ru_maxrss carries the high-water mark of the process that forked this one across
    fork and exec (it would report the harness's size); VmHWM is this program's own. Elsewhere,
    ru_maxrss.
    """
    hwm = _status("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_kib() -> int:
    """The resident set now, in KiB (the peak where there is no /proc)."""
    rss = _status("VmRSS")
    return rss if rss is not None else peak_kib()


def on_podium(config: str, steps: int, tmp: Path) -> dict[str, Any]:
    import podium_side

    from podium.core.store import MemoryStore

    out: dict[str, Any] = {"imported": rss_kib()}
    chain = Chain(steps, last="fail_once" if config == "resume" else None)
    started = time.perf_counter()
    podium_side.workflow(chain)
    out["load_s"] = time.perf_counter() - started
    out["built"] = rss_kib()
    gc.collect()
    if config == "memory":
        out["run_s"] = asyncio.run(podium_side.run(chain, MemoryStore()))
    else:
        out["resume_s"], out["events"] = asyncio.run(podium_side.resume(chain, tmp / "podium.db"))
        out["db_bytes"] = sum(p.stat().st_size for p in tmp.glob("podium.db*"))
    return out


def on_langgraph(config: str, steps: int, tmp: Path) -> dict[str, Any]:
    import langgraph_side

    out: dict[str, Any] = {"imported": rss_kib()}
    if config == "none":
        started = time.perf_counter()
        graph = langgraph_side.chain_graph(Chain(steps))
        out["load_s"] = time.perf_counter() - started
        out["built"] = rss_kib()
        gc.collect()
        out["run_s"] = asyncio.run(langgraph_side.run(graph, steps))
        return out
    out["built"] = out["imported"]  # built inside resume(), with its checkpointer
    chain = Chain(steps, last="fail_once")
    shape, durability = ("dag", "exit") if config == "resume-dag" else ("loop", "sync")
    started = time.perf_counter()
    out["resume_s"], out["checkpoints"] = asyncio.run(
        langgraph_side.resume(chain, tmp / "langgraph.db", shape=shape, durability=durability)
    )
    out["total_s"] = time.perf_counter() - started
    out["db_bytes"] = sum(p.stat().st_size for p in tmp.glob("langgraph.db*"))
    return out


def main(side: str, config: str, steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = on_podium if side == "podium" else on_langgraph
        out = run(config, steps, Path(tmp))
    out["peak"] = peak_kib()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
