"""The engine and the sandbox are two packages with imports one way only.

The engine (src/asgpatch) ships as a plain Lambda zip: it imports neither moto nor the sandbox, save
for the `asgpatch sandbox` command's guarded entry. The sandbox (sandbox/src/asgpatch_sandbox) moves at
moto's pace and imports nothing from the engine. Read from the source, so a lazy import inside a
function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "src" / "asgpatch"
SANDBOX = ROOT / "sandbox" / "src" / "asgpatch_sandbox"
# The one place the engine may reach the sandbox: (module, function, imported module).
GUARDED_ENTRY = ("cli.py", "sandbox", "asgpatch_sandbox.cli")


def _imports(package: Path) -> Iterator[tuple[str, str, str]]:
    """(file relative to the package, enclosing function or "", imported module) for every import."""
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for function, node in _walk(tree, ""):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                yield str(path.relative_to(package)), function, name


def _walk(node: ast.AST, function: str) -> Iterator[tuple[str, ast.AST]]:
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
        yield inner, child
        yield from _walk(child, inner)


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_engine_imports_neither_moto_nor_the_sandbox_but_through_the_sandbox_command():
    reaching = [(f, fn, name) for f, fn, name in _imports(ENGINE) if _top(name) in ("moto", "asgpatch_sandbox")]
    assert reaching == [GUARDED_ENTRY]


def test_the_sandbox_imports_nothing_from_the_engine():
    assert [(f, name) for f, _, name in _imports(SANDBOX) if _top(name) == "asgpatch"] == []
    assert any(_top(name) == "moto" for _, _, name in _imports(SANDBOX))  # the check reads real imports


def test_no_sandbox_module_is_left_in_the_engine():
    leftovers = [p for p in ENGINE.rglob("*.py") if "sandbox" in p.relative_to(ENGINE).parts or p.name == "demo.py"]
    assert leftovers == []
