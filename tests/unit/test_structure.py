"""The package's shape: imports point down the pipeline's layers, never in a circle, never at another
module's private names; and what the workflow imports at parse time stays light."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "abcrnn"
# Lower layers first: a module may import its own layer and the layers before it, never one after.
LAYERS = ["base", "notation", "data", "models", "training", "generation", "analysis", "report", "bench", "commands"]
BASE = {"errors", "fileio", "settings", "config", "runtime", "labels", "__init__"}
HEAVY = {"torch", "matplotlib", "pandas"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    part = module.split(".")[1] if "." in module else "__init__"
    return "base" if part in BASE else "commands" if part == "__main__" else part


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in a module, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [a.name for a in node.names]
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            found += [(m, [], node.lineno) for m in submodules]
            found.append((base, [n for n in names if f"{base}.{n}" not in MODULES], node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    return {m: {target for target, _, _ in imports(m) if target in MODULES and target != m} for m in MODULES}


def test_the_package_has_a_subpackage_per_stage():
    assert {layer(m) for m in MODULES} == set(LAYERS)


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_imports_point_down_the_layers():
    wrong = [f"{m}:{line} imports {target} ({layer(m)} may not use {layer(target)})"
             for m in MODULES for target, _, line in imports(m)
             if target in MODULES and LAYERS.index(layer(target)) > LAYERS.index(layer(m))]
    assert not wrong, "\n".join(wrong)


def test_no_private_names_are_imported_from_another_module():
    private = [f"{m}:{line} takes {name} from {target}" for m in MODULES for target, names, line in imports(m)
               if target.startswith("abcrnn") and target != m for name in names
               if name.startswith("_") and not name.startswith("__")]
    assert not private, "\n".join(private)


def reachable(roots: set[str]) -> set[str]:
    edges, seen, todo = graph(), set(), list(roots)
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += edges[m]
    return seen


def test_what_the_workflow_imports_at_parse_time_imports_no_torch_matplotlib_or_pandas():
    smk = "\n".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    roots = set(re.findall(r"^\s*from (abcrnn[\w.]*) import", smk, re.M))
    assert roots, "common.smk imports from abcrnn"
    heavy = [f"{m} imports {target}" for m in sorted(reachable(roots)) for target, _, _ in imports(m)
             if target.split(".")[0] in HEAVY]
    assert not heavy, "\n".join(heavy)


@pytest.mark.parametrize("module", ["abcrnn.notation.grammar", "abcrnn.notation.bars"])
def test_the_grammar_and_the_bar_reader_are_public_modules(module):
    assert module in MODULES
