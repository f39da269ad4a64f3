"""Serving a workflow to other programs: `podium serve FLOW --a2a` (an Agent2Agent agent)."""
