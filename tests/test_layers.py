"""textgym's modules form one-way layers (docs/architecture.md), checked on the source.

Every import between textgym's own modules counts, those inside functions included: a
module imports only from layers before its own, or from its own layer without a cycle.
An import inside a function is allowed only when the imported module needs an optional
dependency (torch, transformers, openai, ...): an import placed there to dodge a cycle
hides the real order, so it fails here.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "textgym"

#: The layers, in order; a module belongs to the layer of its longest listed prefix.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("textgym.core",)),
    ("utils", ("textgym.utils",)),
    ("parsing, wrappers", ("textgym.parsing", "textgym.wrappers")),
    ("envs", ("textgym.envs", "textgym")),
    ("models", ("textgym.models",)),
    ("policies", ("textgym.policies",)),
    ("rollout, view", ("textgym.rollout", "textgym.view")),
    ("evaluation", ("textgym.evaluation", "textgym.plots", "textgym.viewer")),
    ("trainers", ("textgym.trainers",)),
    ("recipes", ("textgym.recipes",)),
    ("integrations, cli", ("textgym.integrations", "textgym.cli", "textgym.scaffold")),
]

#: Distributions every install has (textgym's own dependencies).
REQUIRED = {"gymnasium", "numpy"}


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    in_function: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts
}


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            below = prefix != "textgym" and module.startswith(prefix + ".")  # root: itself only
            if (module == prefix or below) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer of tests/test_layers.py")
    return best


def _walk(tree: ast.AST):
    """(node, inside a function) for every node."""
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, in_function = stack.pop()
        yield node, in_function
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))


def _type_checking(tree: ast.AST) -> set[int]:
    """Line numbers of imports under ``if TYPE_CHECKING:`` (never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(n.lineno for n in ast.walk(child) if hasattr(n, "lineno"))
    return lines


def parse(module: str) -> tuple[list[Import], set[str]]:
    """The module's imports of textgym modules, and the top-level packages it imports at
    module level from outside textgym and the standard library."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = _type_checking(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    imports, third_party = [], set()
    for node, in_function in _walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        for name in names:
            top = name.partition(".")[0]
            if top == "textgym":
                while name not in MODULES:
                    name = name.rpartition(".")[0]
                if name != module:
                    imports.append(Import(module, name, node.lineno, in_function))
            elif not in_function and top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    return imports, third_party


PARSED = {module: parse(module) for module in MODULES}


def _needs_optional(module: str, seen: set[str] | None = None) -> bool:
    """Whether importing ``module`` imports an optional dependency (at module level,
    itself or through the textgym modules it imports at module level)."""
    seen = set() if seen is None else seen
    if module in seen:
        return False
    seen.add(module)
    imports, third_party = PARSED[module]
    if third_party - REQUIRED:
        return True
    return any(_needs_optional(i.target, seen) for i in imports if not i.in_function)


def _where(i: Import) -> str:
    return f"{MODULES[i.source].relative_to(PACKAGE.parent)}:{i.line}"


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_imports_go_down_the_layers() -> None:
    wrong = [  # one line per import statement and target
        f"{_where(i)}: {i.source} ({LAYERS[layer_of(i.source)][0]}) imports {i.target} "
        f"({LAYERS[layer_of(i.target)][0]})"
        for imports, _ in PARSED.values()
        for i in imports
        if layer_of(i.target) > layer_of(i.source)
    ]
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(set(wrong)))


def test_imports_inside_functions_are_only_for_optional_dependencies() -> None:
    wrong = [
        f"{_where(i)}: {i.source} imports {i.target} inside a function, but {i.target} "
        "needs no optional dependency: import it at the top"
        for imports, _ in PARSED.values()
        for i in imports
        if i.in_function and not _needs_optional(i.target)
    ]
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_no_cycles_within_a_layer() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imports, _ in PARSED.values():
        for i in imports:
            if i.target.startswith(i.source + "."):  # a package re-exporting its modules
                continue
            graph[i.source].add(i.target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("bad", ["textgym.envs.tictactoe.env", "textgym.core"])
def test_the_checker_catches_an_upward_import(bad: str, monkeypatch) -> None:
    """The checks can fail: an import of the trainers from an env or the core is caught."""
    fake = Import(bad, "textgym.trainers.rl", 1, in_function=True)
    imports, third_party = PARSED[bad]
    monkeypatch.setitem(PARSED, bad, ([*imports, fake], third_party))
    with pytest.raises(AssertionError, match=r"imports textgym.trainers.rl \(trainers\)"):
        test_imports_go_down_the_layers()
