"""Dependencies between the product's packages flow one way, as ARCHITECTURE.md's table allows.

Every ``import`` / ``cimport`` of every ``.py``, ``.pyx`` and ``.pxd`` file of the product packages
(lazy imports inside functions too) is read; a dependency that the table does not allow, a package
that the table does not list, or a cycle fails with the file and line that makes it.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT = re.compile(r"^\s*(?:from\s+(\.*[\w.]*)\s+c?import\b|c?import\s+([\w.]+(?:\s*,\s*[\w.]+)*))")
TABLE_START = "<!-- layering -->"
TABLE_END = "<!-- /layering -->"


def allowed_table() -> dict[str, set[str]]:
    """package -> the packages it may use, from the table between the layering markers."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    body = text[text.index(TABLE_START):text.index(TABLE_END)]
    table = {}
    for row in body.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        pkg = cells[0].strip("`/")
        uses = set(re.findall(r"`([\w]+)/?`", cells[1]))
        table[pkg] = uses
    return table


def product_files(packages):
    for pkg in packages:
        for f in sorted((ROOT / pkg).rglob("*")):
            if f.suffix in (".py", ".pyx", ".pxd") and f.is_file():
                yield pkg, f


def dependencies(packages):
    """(package, used package, file, line number) for every import of another product package."""
    for pkg, f in product_files(packages):
        in_doc = False
        for no, line in enumerate(f.read_text().splitlines(), 1):
            # Skip docstring bodies: prose such as "from the start" is not an import.
            quotes = line.count('"""') + line.count("'''")
            if in_doc:
                in_doc = quotes % 2 == 0
                continue
            if quotes % 2 == 1:
                in_doc = True
                continue
            m = IMPORT.match(line)
            if not m:
                continue
            names = [m.group(1)] if m.group(1) is not None else [n.strip() for n in m.group(2).split(",")]
            for name in names:
                top = pkg if name.startswith(".") else name.split(".")[0]
                if top in packages and top != pkg:
                    yield pkg, top, f.relative_to(ROOT), no


def product_packages() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench", "docs"}


def test_every_package_is_in_the_table():
    table = allowed_table()
    missing = sorted(product_packages() - set(table))
    assert not missing, f"packages missing from ARCHITECTURE.md's layering table: {missing}"


def test_dependencies_are_allowed():
    table = allowed_table()
    packages = product_packages()
    bad = [f"{f}:{no}: {pkg} -> {used}" for pkg, used, f, no in dependencies(packages)
           if used not in table.get(pkg, set())]
    assert not bad, "dependencies ARCHITECTURE.md does not allow:\n" + "\n".join(bad)


def test_no_cycles():
    table = allowed_table()
    graph: dict[str, set[str]] = {p: set() for p in table}
    for pkg, used, _, _ in dependencies(product_packages()):
        graph.setdefault(pkg, set()).add(used)
    for p, uses in table.items():            # the table itself must be a DAG too
        graph[p] |= uses
    state: dict[str, int] = {}

    def visit(node, path):
        if state.get(node) == 1:
            raise AssertionError("dependency cycle: " + " -> ".join(path[path.index(node):] + [node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, path + [node])
        state[node] = 2

    for node in sorted(graph):
        visit(node, [])


def test_the_checker_sees_a_forbidden_import(tmp_path, monkeypatch):
    """The scanner must be able to fail: an engine file importing the market-data half is caught."""
    pkg = tmp_path / "engine"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "x.pyx").write_text('"""doc\nfrom feedhandlers import prose\n"""\n'
                               "def f():\n    from feedhandlers.itch cimport ItchFramer\n")
    (tmp_path / "feedhandlers").mkdir()
    (tmp_path / "feedhandlers" / "__init__.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = list(dependencies({"engine", "feedhandlers"}))
    assert [(p, u, n) for p, u, _, n in found] == [("engine", "feedhandlers", 5)]
