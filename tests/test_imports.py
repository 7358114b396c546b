"""The package's own import graph (read from the source, nothing imported): no import circle, and imports inside
functions only where the README's layout says why (lazy package attributes, optional heavy dependencies, one
upward reference)."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "pgan_core"

# (module, imported pgan_core module) pairs allowed inside a function, each with its reason
ALLOWED_IN_FUNCTIONS = {
    ("pgan_core", "pgan_core.training"): "lazy package attribute (import pgan_core stays light)",
    ("pgan_core", "pgan_core.launcher"): "lazy package attribute",
    ("pgan_core", "pgan_core.experiments"): "lazy package attribute",
    ("pgan_core", "pgan_core.results"): "lazy package attribute",
    ("pgan_core", "pgan_core.params"): "lazy package attribute",
    ("pgan_core.results", "pgan_core.config"): "the profile of a provenance record: config -> metrics -> results",
    ("pgan_core.widgets", "pgan_core.plotting"): "matplotlib, only when a figure is drawn",
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _target(mods: dict[str, Path], module: str, node: ast.ImportFrom, alias: str) -> str | None:
    if node.level:
        pkg = module.split(".") if mods[module].name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(pkg[:len(pkg) - node.level + 1] + (node.module.split(".") if node.module else []))
    else:
        base = node.module or ""
    if not base.startswith("pgan_core"):
        return None
    return f"{base}.{alias}" if f"{base}.{alias}" in mods else base


def _graph():
    mods = _modules()
    top, inner = {m: set() for m in mods}, set()
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        body = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("pgan_core")]
            elif isinstance(node, ast.ImportFrom):
                targets = [t for a in node.names if (t := _target(mods, name, node, a.name))]
            else:
                continue
            for t in targets:
                if id(node) in body:
                    top[name].add(t)
                else:
                    inner.add((name, t))
    return mods, top, inner


def _cycle(top: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(top.get(v, ())):
            if w not in top:
                continue
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (c := visit(w)):
                return c
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(top):
        if v not in state and (c := visit(v)):
            return c
    return None


def test_no_import_circle():
    _, top, _ = _graph()
    assert _cycle(top) is None, " -> ".join(_cycle(top) or [])


def test_function_level_imports_only_where_reasoned():
    _, _, inner = _graph()
    assert inner <= set(ALLOWED_IN_FUNCTIONS), sorted(inner - set(ALLOWED_IN_FUNCTIONS))


def test_the_checks_catch_what_they_look_for():
    """The cycle finder finds a planted circle; the graph sees module-level and function-level imports apart."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    mods, top, inner = _graph()
    assert "pgan_core.registry" in top["pgan_core.config"] and ("pgan_core.results", "pgan_core.config") in inner
    assert len(mods) > 40
