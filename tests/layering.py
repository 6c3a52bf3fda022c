"""The import checker behind tests/test_architecture.py: docs/architecture.md's layer table against the code.

It reads the table (layer, group, modules), reads every import of the given source files with ast, and
reports each import that goes up a layer or across groups of one layer, each cycle, and each module the
table does not place. Kept apart from the test so that the test can also run it on a planted tree.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Place:
    """Where the map puts a module: its layer number and its group."""

    layer: int
    group: str
    independent: bool  # members of the group may not import each other


def read_map(markdown: str) -> list[tuple[str, Place]]:
    """(module pattern, place) for every module named in the layer table of docs/architecture.md."""
    out = []
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.match(r"^\d+\b", cells[0]):
            continue
        layer = int(re.match(r"^\d+", cells[0]).group())
        independent = "(independent)" in cells[1]
        group = cells[1].replace("(independent)", "").strip()
        for pattern in re.findall(r"`([A-Za-z_][\w.*]*)`", cells[2]):
            out.append((pattern, Place(layer, group, independent)))
    return out


def place_of(module: str, table: list[tuple[str, Place]]) -> Place | None:
    """The place of ``module``: an exact entry wins over a pattern."""
    for pattern, place in table:
        if pattern == module:
            return place
    for pattern, place in table:
        if "*" in pattern and fnmatch.fnmatchcase(module, pattern):
            return place
    return None


def module_name(path: Path, roots: Mapping[Path, str]) -> str:
    """The dotted name of a source file under one of ``roots`` (folder -> package prefix, '' for none)."""
    for root, prefix in roots.items():
        try:
            rel = path.relative_to(root)
        except ValueError:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join([p for p in (prefix, *parts) if p])
    raise ValueError(f"{path} is under none of {list(roots)}")


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (never run, so not dependencies)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                for inner in node.body:
                    for sub in ast.walk(inner):
                        if isinstance(sub, (ast.Import, ast.ImportFrom)):
                            skip.add(id(sub))
    return skip


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[str, int]]:
    """(imported internal module, line) for every import in ``source``, relative ones resolved.

    ``from a import b`` counts as importing ``a.b`` when that is a module, else ``a``. Bare names that are
    modules beside ``module`` (the benchmark scripts put their folder on sys.path) resolve to them.
    """
    tree = ast.parse(source)
    skip = _type_checking_only(tree)
    package = module if is_package else module.rpartition(".")[0]
    found = []

    def internal(name: str) -> str | None:
        while name:
            if name in known:
                return name
            name = name.rpartition(".")[0]
        return None

    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                sibling = f"{package}.{name}" if package else name
                target = internal(name) or (internal(sibling) if sibling in known else None)
                if target:
                    found.append((target, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                base_parts = base_parts[: len(base_parts) - (node.level - 1)] if node.level > 1 else base_parts
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
                sibling = f"{package}.{base}" if package else base
                if not internal(base) and sibling in known:
                    base = sibling
            for alias in node.names:
                target = internal(f"{base}.{alias.name}") if f"{base}.{alias.name}" in known else internal(base)
                if target:
                    found.append((target, node.lineno))
    return found


def check(
    files: Iterable[Path], roots: Mapping[Path, str], table: list[tuple[str, Place]]
) -> tuple[list[str], dict[str, set[str]]]:
    """(problems, import graph) for the given source files against the layer table."""
    files = sorted(files)
    names = {f: module_name(f, roots) for f in files}
    known = set(names.values())
    graph: dict[str, set[str]] = {m: set() for m in known}
    problems = []
    for f, m in names.items():
        here = place_of(m, table)
        if here is None:
            problems.append(f"{m} ({f}) is not in the layer table of docs/architecture.md; add it to its layer")
            continue
        for target, line in imports_of(f.read_text(encoding="utf-8"), m, f.name == "__init__.py", known):
            if target == m:
                continue
            graph[m].add(target)
            there = place_of(target, table)
            if there is None:
                continue  # reported once, as its own module
            where = f"{m} ({f.name}:{line}) imports {target}"
            if there.layer > here.layer:
                problems.append(f"{where}: layer {here.layer} ({here.group}) may not import layer {there.layer}")
            elif there.layer == here.layer and there.group != here.group:
                problems.append(f"{where}: groups {here.group} and {there.group} of layer {here.layer} are separate")
            elif there.group == here.group and here.independent:
                problems.append(f"{where}: the modules of {here.group} do not import each other")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems, graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), each as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                out.append([*sorted(members), sorted(members)[0]])

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out
