"""The step graph: unknown needs, cycles, upstream sets, dependants, levels and topological order."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Graph:
    """Steps and their `needs`, in file order. Build with `Graph.of(workflow.steps)`."""

    needs: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, steps: Mapping[str, object]) -> Graph:
        return cls({sid: tuple(getattr(step, "needs", ())) for sid, step in steps.items()})

    def unknown_needs(self) -> list[tuple[str, str]]:
        """(step, name) for every `needs` entry that is not a step."""
        return [(sid, n) for sid, deps in self.needs.items() for n in deps if n not in self.needs]

    def find_cycle(self) -> list[str] | None:
        """One cycle as a path that ends where it starts (`a → b → a`), or None.

        Iterative (an explicit stack), so a chain of any length is fine.
        """
        WHITE, GREY, BLACK = 0, 1, 2
        colour = dict.fromkeys(self.needs, WHITE)
        for root in self.needs:
            if colour[root] != WHITE:
                continue
            path: list[str] = [root]
            stack = [iter(self.needs[root])]
            colour[root] = GREY
            while stack:
                dep = next(stack[-1], None)
                if dep is None:
                    stack.pop()
                    colour[path.pop()] = BLACK
                    continue
                if dep not in colour:
                    continue
                if colour[dep] == GREY:
                    found = [*path[path.index(dep) :], dep]
                    return list(reversed(found))  # in the direction work flows: dependency first
                if colour[dep] == WHITE:
                    colour[dep] = GREY
                    path.append(dep)
                    stack.append(iter(self.needs[dep]))
        return None

    @cached_property
    def dependants(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {sid: [] for sid in self.needs}
        for sid, deps in self.needs.items():
            for dep in dict.fromkeys(deps):
                if dep in out:
                    out[dep].append(sid)
        return {k: tuple(v) for k, v in out.items()}

    def upstream(self, step: str) -> frozenset[str]:
        """Every step `step` needs, directly or through other steps."""
        seen: set[str] = set()
        todo = list(self.needs.get(step, ()))
        while todo:
            node = todo.pop()
            if node in seen or node not in self.needs:
                continue
            seen.add(node)
            todo.extend(self.needs[node])
        return frozenset(seen)

    def levels(self) -> list[list[str]]:
        """The steps by depth: each level needs only earlier levels, so a level's steps run side by
        side (file order within a level)."""
        depth: dict[str, int] = {}
        for sid in self.order():
            depth[sid] = 1 + max((depth[d] for d in self.needs[sid] if d in depth), default=-1)
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for sid in self.needs:
            out[depth[sid]].append(sid)
        return out

    def order(self) -> list[str]:
        """A topological order (stable: file order among independent steps)."""
        index = {sid: i for i, sid in enumerate(self.needs)}
        waiting = {sid: len(set(deps)) for sid, deps in self.needs.items()}
        heap = [index[sid] for sid, n in waiting.items() if n == 0]
        heapq.heapify(heap)
        names = list(self.needs)
        out: list[str] = []
        while heap:
            sid = names[heapq.heappop(heap)]
            out.append(sid)
            for dep in self.dependants[sid]:
                waiting[dep] -= 1
                if waiting[dep] == 0:
                    heapq.heappush(heap, index[dep])
        if len(out) < len(self.needs):
            raise ValueError("graph has a cycle")
        return out
