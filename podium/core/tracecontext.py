"""W3C trace context for a run's spans, derived from the run's ids: the same everywhere, at any time.

A run is one trace. Its trace id and each span's id are hashes of the run id and the span's place
in the run (``call:<seq>`` for the call that `CallStarted` event number `seq` opened), so the
ids a cloud receives in a call's ``traceparent`` header, the spans exported live while the run
goes, and a trace exported from the store days later all agree, with nothing more to store.
"""

from __future__ import annotations

import functools
import hashlib


@functools.lru_cache(maxsize=256)  # asked once per call of a run: the runs in flight, at most
def trace_id(run_id: str) -> str:
    """The run's 32-hex-digit trace id."""
    digest = hashlib.sha256(f"podium-trace\0{run_id}".encode()).hexdigest()[:32]
    return digest if digest.strip("0") else "1" + digest[1:]


def span_id(run_id: str, key: str) -> str:
    """The 16-hex-digit id of the span `key` names in the run (`run`, `step:<id>`, `call:<seq>`, …)."""
    digest = hashlib.sha256(f"{run_id}\0{key}".encode()).hexdigest()[:16]
    return digest if digest.strip("0") else "1" + digest[1:]


def call_key(seq: int) -> str:
    """The span key of the agent call its `CallStarted` event (number `seq`) opened."""
    return f"call:{seq}"


def traceparent(run_id: str, key: str) -> str:
    """The W3C ``traceparent`` header value of the span `key` names: version 00, sampled."""
    return f"00-{trace_id(run_id)}-{span_id(run_id, key)}-01"
