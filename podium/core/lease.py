"""Who drives a run: owner ids, when a lease is stale, and the heartbeat that keeps one alive."""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass

LEASE_SECONDS = 30.0
HEARTBEAT_SECONDS = 1.0


def owner_id() -> str:
    """host:pid:token — enough to tell this process from every other, and to check it is alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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

    def stale(self, now: float | None = None) -> bool:
        """Expired, or held by a process on this host that no longer exists (killed)."""
        if self.owner is None:
            return True
        if self.expires is not None and self.expires < (now if now is not None else time.time()):
            return True
        host, _, rest = self.owner.partition(":")
        pid_text = rest.partition(":")[0]
        if host == socket.gethostname() and pid_text.isdigit():
            return not _pid_alive(int(pid_text))
        return False
