"""`make dev`: print the test files that import a module (``engine.positions``), one per line.

A test counts when it names the module's dotted path or imports it as ``from engine import ...
positions``, directly or through a helper module in tests/ (``engine_harness``) that does. When none
does (or MOD is a package), every test naming the package is printed, and a note goes to stderr.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def importers(files: list[Path], dotted: str, pkg: str, leaf: str) -> set[Path]:
    pats = [re.compile(rf"(^|[^\w.]){re.escape(dotted)}(?!\w)", re.M)]
    if leaf:
        pats.append(re.compile(rf"^\s*from\s+{re.escape(pkg)}\s+import\s+[^\n]*\b{re.escape(leaf)}\b"
                               rf"|^\s*from\s+{re.escape(pkg)}\s+import\s*\([^)]*\b{re.escape(leaf)}\b", re.M))
    return {f for f in files if any(p.search(f.read_text(errors="replace")) for p in pats)}


def main(mod: str) -> int:
    files = sorted(p for p in HERE.rglob("*.py") if p.name not in ("conftest.py", "for_module.py"))
    pkg, _, leaf = mod.rpartition(".")
    found = importers(files, mod, pkg, leaf) if pkg else set()
    for helper in [f for f in found if not f.name.startswith("test_")]:
        found |= importers(files, helper.stem, "", "")          # `import engine_harness`, `from engine_harness import`
    tests = sorted(f for f in found if f.name.startswith("test_"))
    if not tests:
        top = mod.split(".")[0]
        print(f"make dev: no test imports {mod}; running every test that names the package {top}", file=sys.stderr)
        tests = sorted(f for f in importers(files, top, "", "") if f.name.startswith("test_"))
    print("\n".join(str(t.relative_to(HERE.parent)) for t in tests))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else "usage: tests/for_module.py package.module")
