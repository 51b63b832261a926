"""The rules import-linter cannot see, because a function's folder is not a package:
a Lambda function's modules import the layer (`oms`) and libraries, never another
function's module, the whole graph (`oms.container`) or the local runtime.

Each product function builds what it uses through `oms.wiring.<part>`.
Exit 1 with one line per broken rule.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("oms.container", "oms_local")


def imported(path: Path) -> list[tuple[int, list[str]]]:
    """Per import statement: its line and the names it may reach (`from a import b` reaches a and a.b)."""
    statements: list[tuple[int, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            statements += [(node.lineno, [alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            statements.append((node.lineno, [module, *(f"{module}.{alias.name}" for alias in node.names)]))
    return statements


def problem(name: str, handler_modules: set[str]) -> str | None:
    top = name.split(".", maxsplit=1)[0]
    if name.startswith("."):
        return f"relative import {name}: a function's folder is not a package"
    if top in handler_modules:
        return f"imports {name}, another function's module"
    if top == "functions":
        return f"imports {name}: functions do not import each other"
    if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN):
        return f"imports {name}: a function builds its own part through oms.wiring"
    return None


def problems(functions: Path) -> list[str]:
    handler_modules = {path.stem for path in functions.glob("*/*.py")}
    found: list[str] = []
    for path in sorted(functions.glob("*/*.py")):
        where = path.relative_to(ROOT)
        for line, names in sorted(imported(path)):
            first = next((p for p in (problem(name, handler_modules) for name in names) if p), None)
            if first:
                found.append(f"{where}:{line}: {first}")
    return found


def main() -> int:
    found = problems(ROOT / "functions")
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
