"""The import contract, read from the README's architecture line: each layer imports only the
layers before it and the base below all of them, never a later layer nor its neighbour on the
same step, and no import inside a function closes an import cycle.

The README is the contract's source: the line starting "Data flows one way:" lists the layers in
order (``a/b`` is one step of two independent layers), the base they all stand on (the backticked
names after "all stand on"), and the line starting "One look goes the other way" names the one
allowed exception as `` `module` → `module` ``. Any other import that breaks the order fails here,
listing every offending import with its file and line."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = "agimeter"
# Test helpers for the suite: may import anything, and nothing in agimeter may import them.
TEST_HELPERS = "testing"


@dataclass(frozen=True)
class Contract:
    steps: tuple[frozenset[str], ...]  # in order; the layers of one step are independent
    base: frozenset[str]  # below every layer; imports only the base
    exceptions: frozenset[tuple[str, str]]  # (importing module, imported module), both dotted


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name (a submodule when the imported name is one)
    path: Path
    line: int
    where: str  # "module", "function" or "type-checking"


def _sentence(text: str, start: str) -> str:
    """The README paragraph that starts with ``start``, as one line."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(start):
            paragraph = [line]
            for more in lines[i + 1 :]:
                if not more.strip() or more.startswith(("#", "```")):
                    break
                paragraph.append(more)
            return " ".join(part.strip() for part in paragraph)
    raise AssertionError(f"README.md has no line starting {start!r}: the import contract reads it from there")


def read_contract(readme: str) -> Contract:
    flow = _sentence(readme, "Data flows one way:")
    step = r"[a-z_]+(?:/[a-z_]+)*"
    chain = re.search(rf"{step}(?:\s*→\s*{step})+", flow)
    assert chain, f"no 'a → b/c → d' chain in: {flow}"
    steps = tuple(frozenset(part.strip() for part in s.split("/")) for s in chain.group(0).split("→"))
    stand_on = flow.partition("all stand on")[2]
    base = frozenset(re.findall(r"`([a-z_]+)`", stand_on))
    exceptions: set[tuple[str, str]] = set()
    if "One look goes the other way" in readme:
        look = _sentence(readme, "One look goes the other way")
        for a, b in re.findall(r"`([a-z_.]+)` → `([a-z_.]+)`", look):
            exceptions.add((f"{PACKAGE}.{a}", f"{PACKAGE}.{b}"))
    return Contract(steps=steps, base=base, exceptions=frozenset(exceptions))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    base = SRC.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = importer.split(".")
    if not is_package:
        parts.pop()
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _where(stack: list[ast.AST]) -> str:
    if any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) for n in stack):
        return "function"
    if any(isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test) for n in stack):
        return "type-checking"
    return "module"


def collect_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        importer = _module_name(path)
        tree = ast.parse(path.read_text(), str(path))

        def visit(node: ast.AST, stack: list[ast.AST], path: Path = path, importer: str = importer) -> None:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = _resolve(node, importer, path.name == "__init__.py")
                # ``from pkg import sub`` imports the submodule ``pkg.sub``
                targets = [f"{module}.{a.name}" if _is_module(f"{module}.{a.name}") else module for a in node.names]
            for target in dict.fromkeys(targets):
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    found.append(Import(importer, target, path, node.lineno, _where(stack)))  # type: ignore[attr-defined]
            for child in ast.iter_child_nodes(node):
                visit(child, [*stack, node])

        visit(tree, [])
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def layer_violations(contract: Contract, imports: list[Import]) -> list[str]:
    order = {layer: i for i, step in enumerate(contract.steps) for layer in step}
    known = set(order) | contract.base | {TEST_HELPERS, PACKAGE}
    problems: list[str] = []
    for imp in imports:
        a, b = _layer(imp.importer), _layer(imp.target)
        where = f"{imp.path.relative_to(REPO)}:{imp.line}: {imp.importer} imports {imp.target}"
        if a not in known:
            problems.append(f"{where}: {a!r} is in no layer of the README's architecture line")
            continue
        if a == b or b == PACKAGE or a in (TEST_HELPERS, PACKAGE):
            continue  # within a layer; the package's public facade (__version__); test helpers
        if (imp.importer, imp.target) in contract.exceptions:
            continue
        if b == TEST_HELPERS:
            problems.append(f"{where}: only tests import agimeter.testing")
        elif b not in known:
            problems.append(f"{where}: {b!r} is in no layer of the README's architecture line")
        elif a in contract.base:
            if b not in contract.base:
                problems.append(f"{where}: the base ({a}) imports only the base, not {b}")
        elif b in contract.base:
            continue
        elif order[b] == order[a]:
            problems.append(f"{where}: {a} and {b} share a step and must not import each other")
        elif order[b] > order[a]:
            problems.append(f"{where}: {a} comes before {b} in the data flow")
    return problems


def hidden_cycles(imports: list[Import], allowed: frozenset[tuple[str, str]] = frozenset()) -> list[str]:
    """Every import inside a function (or under TYPE_CHECKING) whose target leads back to the
    importer: a cycle that the deferred import only hides (``allowed``: the README's exception)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.importer, set()).add(imp.target)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    return [
        f"{imp.path.relative_to(REPO)}:{imp.line}: {imp.importer} imports {imp.target} inside a "
        f"{'function' if imp.where == 'function' else 'TYPE_CHECKING block'}, and {imp.target} leads back to it"
        for imp in imports
        if imp.where != "module"
        and imp.target != imp.importer
        and (imp.importer, imp.target) not in allowed
        and reaches(imp.target, imp.importer)
    ]


@pytest.fixture(scope="module")
def contract() -> Contract:
    return read_contract((REPO / "README.md").read_text())


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return collect_imports()


def test_the_readme_line_names_every_package(contract: Contract) -> None:
    named = {layer for step in contract.steps for layer in step} | contract.base | {TEST_HELPERS}
    packages = {p.stem if p.is_file() else p.name for p in (SRC / PACKAGE).iterdir() if not p.name.startswith("_")}
    packages = {p for p in packages if _is_module(f"{PACKAGE}.{p}")}
    assert packages - named == set(), "packages the README's architecture line does not place"
    assert named - packages == set(), "layers in the README's architecture line that do not exist"


def test_no_layer_imports_a_later_one_or_its_neighbour(contract: Contract, imports: list[Import]) -> None:
    problems = layer_violations(contract, imports)
    assert not problems, f"{len(problems)} import(s) break the README's layering:\n" + "\n".join(problems)


def test_no_deferred_import_hides_a_cycle(contract: Contract, imports: list[Import]) -> None:
    problems = hidden_cycles(imports, contract.exceptions)
    assert not problems, f"{len(problems)} deferred import(s) hide a cycle:\n" + "\n".join(problems)


def test_the_exceptions_are_used(contract: Contract, imports: list[Import]) -> None:
    """An exception the README names must still exist (else the README says more than the code)."""
    pairs = {(i.importer, i.target) for i in imports}
    assert contract.exceptions <= pairs, contract.exceptions - pairs


def test_the_checker_catches_what_it_should() -> None:
    """The checker itself can fail: a made-up import graph with one of each kind of violation."""
    contract = read_contract(
        "Data flows one way: a → b/c → d, all stand on `base`.\n\nOne look goes the other way (`a.x` → `d.y`).\n"
    )
    assert contract.steps == (frozenset({"a"}), frozenset({"b", "c"}), frozenset({"d"}))
    assert contract.base == {"base"} and contract.exceptions == {("agimeter.a.x", "agimeter.d.y")}
    p = Path(REPO / "src/agimeter/x.py")

    def imp(a: str, b: str, where: str = "module") -> Import:
        return Import(f"agimeter.{a}", f"agimeter.{b}", p, 1, where)

    fine = [imp("d.m", "b.n"), imp("b.n", "a.x"), imp("a.x", "base.e"), imp("a.x", "d.y"), imp("testing.t", "d.m")]
    assert layer_violations(contract, fine) == []
    bad = [imp("a.z", "d.y"), imp("b.n", "c.o"), imp("base.e", "a.x"), imp("d.m", "testing.t"), imp("d.m", "zz.q")]
    assert len(layer_violations(contract, bad)) == 5
    cyclic = [imp("d.m", "d.n"), imp("d.n", "d.m", where="function"), imp("d.m", "b.n", where="function")]
    assert [c.split(": ")[1] for c in hidden_cycles(cyclic)] == [
        "agimeter.d.n imports agimeter.d.m inside a function, and agimeter.d.m leads back to it"
    ]
