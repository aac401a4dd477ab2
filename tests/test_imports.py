"""The package's module graph: every jkb import at module level, and no circle."""

from __future__ import annotations

import ast
import pathlib

import jkb

PKG = pathlib.Path(jkb.__file__).parent


def _imports():
    """{module: (jkb modules it imports at module level, relative imports inside code)}."""
    out = {}
    for path in sorted(PKG.glob("*.py")):
        tree = ast.parse(path.read_text())
        top, nested = set(), []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                if node in tree.body:
                    top.update(n.split(".")[0] for n in names)
                else:
                    nested.append(f"{path.name}:{node.lineno}")
        out[path.stem] = (top, nested)
    return out


def test_no_imports_inside_functions():
    nested = [n for _, (_, ns) in _imports().items() for n in ns]
    assert nested == []


def test_module_graph_has_no_circle():
    deps = {m: top for m, (top, _) in _imports().items()}
    done, path = set(), []

    def visit(m):
        assert m not in path, "import circle: " + " -> ".join(path[path.index(m):] + [m])
        if m in done:
            return
        path.append(m)
        for d in sorted(deps.get(m, ())):
            visit(d)
        path.pop()
        done.add(m)

    for m in deps:
        visit(m)
    assert {"core", "function", "state", "values", "phase"} <= done
