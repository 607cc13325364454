"""The package's layers point one way: no cycle between its parts.

A part is a direct subpackage of ``seatserver`` (``bookings``, ``holds``, ...)
or one of its top-level modules (``app``, ``redis_client``, ...). An import of
one part by another, anywhere in it (inside functions too), is an edge; two
parts that reach each other through edges are a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import seatserver

PACKAGE = Path(seatserver.__file__).parent

Graph = dict[str, dict[str, set[str]]]  # part -> part it imports -> files that do


def part_of(module: str) -> str | None:
    """The part a ``seatserver.…`` module belongs to (None for others)."""
    names = module.split(".")
    if names[0] != "seatserver" or len(names) < 2:
        return None
    return names[1]


def imported(tree: ast.AST, module: str) -> Iterator[str]:
    """Every ``seatserver.…`` module (or name in one) ``tree`` imports."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing module
                anchor = module.split(".")[:-node.level]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> Graph:
    graph: Graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        source = part_of(module)
        if source is None:
            continue
        graph.setdefault(source, {})
        for name in imported(ast.parse(path.read_text(), str(path)), module):
            target = part_of(name)
            if target is not None and target != source:
                graph[source].setdefault(target, set()).add(str(path.relative_to(PACKAGE)))
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected parts of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def describe(graph: Graph, members: list[str]) -> str:
    edges = [f"  {a} -> {b}: {', '.join(sorted(graph[a][b]))}"
             for a in members for b in members if b in graph.get(a, {})]
    return " <-> ".join(members) + "\n" + "\n".join(edges)


def test_the_parts_of_seatserver_import_each_other_in_one_direction_only() -> None:
    graph = import_graph()

    found = cycles(graph)

    assert not found, "package cycles:\n" + "\n".join(describe(graph, c) for c in found)


def test_the_cycle_finder_sees_a_cycle_through_three_parts() -> None:
    graph: Graph = {"a": {"b": {"a.py"}}, "b": {"c": {"b.py"}}, "c": {"a": {"c.py"}},
                    "d": {"a": {"d.py"}}}

    assert cycles(graph) == [["a", "b", "c"]]


def test_audit_rows_have_one_writer() -> None:
    writers = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if "INSERT INTO audit_log" in p.read_text())

    assert writers == ["audit.py"]
