"""The step graph: cycles, unknown needs, upstream sets and topological order."""

from __future__ import annotations

from itertools import pairwise

import pytest

from podium.core.graph import Graph
from podium.core.spec import Step

N = 10_000


def chain(n: int, *, reverse: bool = False) -> Graph:
    """s0 → s1 → … in file order; with `reverse`, each step needs the one after it in the file."""
    if reverse:
        return Graph({f"s{i}": ((f"s{i + 1}",) if i < n - 1 else ()) for i in range(n)})
    return Graph({f"s{i}": ((f"s{i - 1}",) if i else ()) for i in range(n)})


def assert_closed_cycle(graph: Graph, cycle: list[str]) -> None:
    """A closed path in the direction work flows: each step is needed by the next."""
    assert len(cycle) >= 2
    assert cycle[0] == cycle[-1]
    for dep, step in pairwise(cycle):
        assert dep in graph.needs[step], f"{step} does not need {dep}"


DIAMOND = Graph({"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")})


# --- building -------------------------------------------------------------------------------


def test_graph_of_steps_keeps_file_order_and_needs() -> None:
    steps = {
        "draft": Step(agent="w", needs=["facts", "angles"]),
        "facts": Step(agent="w"),
        "angles": Step(agent="w", needs="facts"),
    }
    graph = Graph.of(steps)
    assert list(graph.needs) == ["draft", "facts", "angles"]
    assert graph.needs["draft"] == ("facts", "angles")
    assert graph.needs["angles"] == ("facts",)
    assert graph.order() == ["facts", "angles", "draft"]


def test_unknown_needs() -> None:
    graph = Graph({"a": ("x",), "b": ("a", "y"), "c": ()})
    assert graph.unknown_needs() == [("a", "x"), ("b", "y")]
    assert DIAMOND.unknown_needs() == []


def test_dependants_are_listed_once() -> None:
    graph = Graph({"a": (), "b": ("a", "a"), "c": ("a",)})
    assert graph.dependants == {"a": ("b", "c"), "b": (), "c": ()}


# --- cycles ---------------------------------------------------------------------------------


def test_no_cycle_in_a_dag() -> None:
    assert DIAMOND.find_cycle() is None
    assert Graph({}).find_cycle() is None


def test_three_step_cycle_is_a_closed_path() -> None:
    graph = Graph({"a": ("c",), "b": ("a",), "c": ("b",)})
    cycle = graph.find_cycle()
    assert cycle is not None
    assert_closed_cycle(graph, cycle)
    assert set(cycle) == {"a", "b", "c"}
    assert len(cycle) == 4
    assert cycle == ["a", "b", "c", "a"]


def test_two_step_cycle() -> None:
    graph = Graph({"a": ("b",), "b": ("a",), "c": ()})
    cycle = graph.find_cycle()
    assert cycle is not None
    assert_closed_cycle(graph, cycle)
    assert set(cycle) == {"a", "b"}


def test_self_need_is_a_cycle_of_one() -> None:
    assert Graph({"a": ("a",)}).find_cycle() == ["a", "a"]


def test_cycle_reached_through_other_steps_excludes_them() -> None:
    graph = Graph({"entry": ("x",), "x": ("y",), "y": ("z",), "z": ("x",), "free": ()})
    cycle = graph.find_cycle()
    assert cycle is not None
    assert_closed_cycle(graph, cycle)
    assert set(cycle) == {"x", "y", "z"}


def test_unknown_needs_are_not_cycles() -> None:
    assert Graph({"a": ("missing",), "b": ("a",)}).find_cycle() is None


@pytest.mark.parametrize("reverse", [False, True], ids=["file-order", "last-step-first"])
def test_find_cycle_on_a_long_chain(reverse: bool) -> None:
    # a workflow this long must be checked without one stack frame per step
    assert chain(N, reverse=reverse).find_cycle() is None


def test_find_cycle_on_a_long_loop() -> None:
    graph = Graph({f"s{i}": (f"s{(i + 1) % N}",) for i in range(N)})
    cycle = graph.find_cycle()
    assert cycle is not None
    assert len(cycle) == N + 1
    assert_closed_cycle(graph, cycle)


# --- upstream -------------------------------------------------------------------------------


def test_upstream_is_transitive() -> None:
    assert DIAMOND.upstream("d") == frozenset({"a", "b", "c"})
    assert DIAMOND.upstream("b") == frozenset({"a"})
    assert DIAMOND.upstream("a") == frozenset()


def test_upstream_excludes_the_step_and_what_comes_after_it() -> None:
    graph = Graph({"a": (), "b": ("a",), "c": ("b",), "side": ()})
    assert graph.upstream("b") == frozenset({"a"})
    assert "side" not in graph.upstream("c")


def test_upstream_ignores_unknown_needs() -> None:
    assert Graph({"a": ("ghost",), "b": ("a",)}).upstream("b") == frozenset({"a"})


def test_upstream_of_a_long_chain() -> None:
    assert len(chain(N).upstream(f"s{N - 1}")) == N - 1


# --- order ----------------------------------------------------------------------------------


def assert_topological(graph: Graph, order: list[str]) -> None:
    assert sorted(order) == sorted(graph.needs)
    position = {sid: i for i, sid in enumerate(order)}
    for sid, deps in graph.needs.items():
        for dep in deps:
            assert position[dep] < position[sid], f"{dep} must come before {sid}"


def test_order_is_topological() -> None:
    graph = Graph({"d": ("b", "c"), "c": ("a",), "b": ("a",), "a": ()})
    order = graph.order()
    assert_topological(graph, order)
    assert order == ["a", "c", "b", "d"]


def test_order_is_stable_in_file_order() -> None:
    graph = Graph({"x": ("z",), "y": (), "z": (), "w": ()})
    # among steps that are free at the same time, the earlier in the file comes first
    assert graph.order() == ["y", "z", "x", "w"]
    assert Graph({"c": (), "a": (), "b": ()}).order() == ["c", "a", "b"]


def test_order_with_repeated_needs() -> None:
    assert Graph({"a": (), "b": ("a", "a")}).order() == ["a", "b"]


def test_order_refuses_a_cycle() -> None:
    with pytest.raises(ValueError, match="cycle"):
        Graph({"a": ("b",), "b": ("a",), "c": ()}).order()


@pytest.mark.parametrize("reverse", [False, True], ids=["file-order", "last-step-first"])
def test_order_of_a_long_chain(reverse: bool) -> None:
    graph = chain(N, reverse=reverse)
    order = graph.order()
    expected = [f"s{i}" for i in range(N)]
    assert order == (expected[::-1] if reverse else expected)


def test_order_of_many_independent_steps_keeps_file_order() -> None:
    names = [f"step{i:05d}" for i in reversed(range(N))]
    assert Graph({name: () for name in names}).order() == names


def test_levels_group_the_steps_that_run_side_by_side() -> None:
    graph = Graph(
        {"facts": (), "angles": (), "score": ("facts",), "draft": ("facts", "angles"), "end": ("draft",)}
    )
    assert graph.levels() == [["facts", "angles"], ["score", "draft"], ["end"]]
    assert Graph({}).levels() == []


# --- found by mutation testing (docs/testing.md) --------------------------------------------


def test_a_cycle_after_a_step_already_checked_is_still_found() -> None:
    # `a` is checked first and reaches `b`; the search must go on past `b` to the loop c ⇄ d
    graph = Graph({"a": ("b",), "b": (), "c": ("d",), "d": ("c",)})
    cycle = graph.find_cycle()
    assert cycle is not None and set(cycle) == {"c", "d"}
    assert_closed_cycle(graph, cycle)


def test_an_unknown_need_neither_hides_a_cycle_nor_makes_one() -> None:
    # a typo in one need of a step must not end the search through that step's other needs
    graph = Graph({"a": ("ghost", "b"), "b": ("a",)})
    cycle = graph.find_cycle()
    assert cycle is not None and set(cycle) == {"a", "b"}
    assert Graph({"a": ("ghost",), "b": ("a",), "c": ("b", "a")}).find_cycle() is None


def test_upstream_goes_on_past_a_step_reached_twice() -> None:
    # x needs c, a and b; b needs a: a is reached twice, and c must still be found
    graph = Graph({"a": (), "b": ("a",), "c": (), "x": ("c", "a", "b")})
    assert graph.upstream("x") == frozenset({"a", "b", "c"})


def test_the_search_goes_on_through_every_need_of_a_step() -> None:
    # a's first need is finished before its second is looked at: the second still counts
    assert Graph({"a": ("b", "c"), "b": (), "c": (), "d": ("a",)}).find_cycle() is None
    graph = Graph({"a": ("b", "c"), "b": (), "c": ("a",)})
    cycle = graph.find_cycle()
    assert cycle is not None and set(cycle) == {"a", "c"}
    assert_closed_cycle(graph, cycle)
