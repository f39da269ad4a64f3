"""Who drives a run: owner ids, when a lease is stale, and the heartbeat that keeps one alive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from podium.core.errors import BadInput

LEASE_SECONDS = 30.0
HEARTBEAT_SECONDS = 1.0
# a step that keeps the event loop longer than this is called out: a blocking call in `async def`
LOOP_BLOCKED_SECONDS = 1.0

log = logging.getLogger("podium")


def owner_id() -> str:
    """host:pid:token — enough to tell this process from every other, and to check it is alive.

    The token ends with the process's start time where the system tells it (`-<ticks>`), so a pid
    that a new process took after the owner died (after a reboot, say) is not taken for the owner.
    """
    start = _start_time(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}" + (f"-{start}" if start else "")


def _start_time(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (Linux's /proc); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold anything
    return fields[19] if len(fields) > 19 and fields[19].isdigit() else None


def _seconds(name: str, default: float, environ: Mapping[str, str] | None) -> float:
    text = (os.environ if environ is None else environ).get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise BadInput(
            f"{name}={text!r} is not a number of seconds",
            fix=f"set {name} to a positive number, e.g. {default:g}, or unset it",
        )
    return value


def lease_timing(environ: Mapping[str, str] | None = None) -> tuple[float, float]:
    """(lease seconds, heartbeat seconds): `PODIUM_LEASE_SECONDS` and `PODIUM_HEARTBEAT_SECONDS`,
    else 30 and 1. A shorter lease hands a dead process's run over sooner (tests use seconds)."""
    lease = _seconds("PODIUM_LEASE_SECONDS", LEASE_SECONDS, environ)
    beat = _seconds("PODIUM_HEARTBEAT_SECONDS", min(HEARTBEAT_SECONDS, lease / 3), environ)
    if beat >= lease:
        raise BadInput(
            f"PODIUM_HEARTBEAT_SECONDS ({beat:g}) must be shorter than PODIUM_LEASE_SECONDS ({lease:g})",
            fix="renew the lease well within its length: a heartbeat of a third of the lease or less",
        )
    return lease, beat


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_process(owner: str) -> tuple[str, int, str | None] | None:
    """(host, pid, start time or None) of an owner id (`host:pid:token`); None when it is not one."""
    head, _, token = owner.rpartition(":")  # the token last; a host name never holds a pid
    host, _, pid_text = head.rpartition(":")
    start = token.rpartition("-")[2] if "-" in token else None
    return (host, int(pid_text), start) if host and pid_text.isdigit() else None


def _owner_alive(pid: int, start: str | None) -> bool:
    if not _pid_alive(pid):
        return False
    now = _start_time(pid) if start is not None else None
    return now is None or now == start  # another start time: the pid was reused, the owner is gone


@dataclass(frozen=True, slots=True)
class Lease:
    """The lease on one run, as the store holds it."""

    owner: str | None
    expires: float | None

    def held_by_other(self, me: str, now: float | None = None) -> bool:
        """True when another live process drives the run (so `me` must not)."""
        if self.owner is None or self.owner == me:
            return False
        return not self.stale(now)

    @property
    def driven(self) -> bool:
        """Whether a live process drives the run now: the lease is held (by a non-empty owner) and
        not stale. What readers ask to tell a running run from an interrupted one."""
        return bool(self.owner) and not self.stale()

    def stale(self, now: float | None = None) -> bool:
        """Whether nobody drives the run any more.

        On this host the owner's pid decides: a live process keeps its run whatever the expiry
        says (its loop may be blocked by a user's `time.sleep`; taking the run over would run
        its steps twice), and a dead one loses it at once. A process on another host (or an
        owner id podium cannot read) keeps the run until the lease expires.
        """
        if self.owner is None:
            return True
        process = owner_process(self.owner)
        if process is not None and process[0] == socket.gethostname():
            return not _owner_alive(process[1], process[2])
        return self.expires is not None and self.expires < (now if now is not None else time.time())


class Heartbeat:
    """Renews a run's lease from a thread of its own, and watches the run's event loop.

    A thread, not a task: an `async def` agent that blocks (a `time.sleep`, a long render) stops
    the event loop, and a lease renewed on the loop would expire under a live process. The
    thread is a daemon, so it ends with the process; `stop()` ends it with the run. While it
    runs it also warns, once per stall, when the loop has not turned for `blocked_after` seconds,
    naming the step whose task holds it (`step_of` maps a task to its step).
    """

    def __init__(
        self,
        renew: Callable[[], bool],
        *,
        every: float,
        on_lost: Callable[[], None],
        loop: asyncio.AbstractEventLoop,
        step_of: Callable[[asyncio.Task[object] | None], str | None],
        run_id: str,
        blocked_after: float = LOOP_BLOCKED_SECONDS,
    ) -> None:
        self._renew = renew
        self._every = every
        self._on_lost = on_lost
        self._loop = loop
        self._step_of = step_of
        self._run_id = run_id
        self._blocked_after = blocked_after
        self._stop = threading.Event()
        self._turned = time.monotonic()  # when the loop last ran our tick
        self._tick_handle: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(target=self._beat, name=f"podium-heartbeat-{run_id}", daemon=True)
        self.blocked: list[tuple[str | None, float]] = []  # (step, seconds) of each stall, for tests

    def start(self) -> None:
        """Start the thread (call on the loop's thread, where the tick is scheduled)."""
        self._tick()
        self._thread.start()

    def stop(self) -> None:
        """End the thread and the tick; the lease is no longer renewed."""
        self._stop.set()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _tick(self) -> None:
        self._turned = time.monotonic()
        if not self._stop.is_set():
            self._tick_handle = self._loop.call_later(self._blocked_after / 4, self._tick)

    def _beat(self) -> None:
        period = min(self._every, self._blocked_after / 4)
        renewed = time.monotonic()
        stall_reported = 0.0  # the `_turned` of the stall last reported
        while not self._stop.wait(period):
            now = time.monotonic()
            if now - renewed >= self._every:
                renewed = now
                try:
                    held = self._renew()
                except Exception as exc:  # a busy or failing database: try again at the next beat
                    log.warning("run %s: could not renew its lease (%s); will try again", self._run_id, exc)
                    held = True
                if not held:
                    self._lost()
                    return
            turned = self._turned
            stalled = now - turned
            if stalled > self._blocked_after and turned != stall_reported:
                stall_reported = turned
                self._warn_blocked(stalled)

    def _lost(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: the run is over anyway
            self._loop.call_soon_threadsafe(self._on_lost)

    def _warn_blocked(self, stalled: float) -> None:
        try:
            task = asyncio.current_task(self._loop)
        except RuntimeError:
            task = None
        step = self._step_of(task)
        self.blocked.append((step, stalled))
        where = f"step '{step}'" if step else "the run itself (no step)"
        log.warning(
            "LoopBlocked: run %s: %s has kept the event loop for %.1fs; a blocking call in an"
            " `async def` agent, tool or hook (time.sleep, a sync HTTP client) stops every other step"
            " and the heartbeat. Fix: await asyncio.sleep / an async client, or make the function"
            " a plain `def` (podium runs those on threads)",
            self._run_id, where, stalled,
        )  # fmt: skip
