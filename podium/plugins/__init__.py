"""Plugin machinery: pluggy markers, the hook specifications, and the manager that loads plugins."""

import pluggy

hookimpl = pluggy.HookimplMarker("podium")
hookspec = pluggy.HookspecMarker("podium")

__all__ = ["hookimpl", "hookspec"]
