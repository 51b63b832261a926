"""The function-import rule `make lint` runs (scripts/check_function_imports.py): a Lambda function's
modules import the layer and libraries, never another function's module or the whole graph."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _checker():
    spec = importlib.util.spec_from_file_location("check_function_imports", ROOT / "scripts/check_function_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _functions(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "functions" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "functions"


def test_the_repository_keeps_the_rule() -> None:
    checker = _checker()
    assert checker.problems(ROOT / "functions") == []


def test_a_function_reaching_into_another_or_the_whole_graph_is_named(tmp_path: Path, monkeypatch) -> None:
    # Given functions that import each other, the whole graph and the local runtime
    checker = _checker()
    monkeypatch.setattr(checker, "ROOT", tmp_path)
    functions = _functions(tmp_path, {
        "sourcing/app.py": "from oms.wiring.sourcing import sourcing\nimport json\n",
        "status/app.py": "from oms import container\nimport worker\n",
        "status/worker.py": "from oms_local.runtime import Runtime\nfrom functions.sourcing import app\n",
    })  # fmt: skip
    # When the rule is checked
    found = checker.problems(functions)
    # Then each broken import is named with its file and line, and the clean function is not
    assert found == [
        "functions/status/app.py:1: imports oms.container: a function builds its own part through oms.wiring",
        "functions/status/app.py:2: imports worker, another function's module",
        "functions/status/worker.py:1: imports oms_local.runtime: a function builds its own part through oms.wiring",
        "functions/status/worker.py:2: imports functions.sourcing: functions do not import each other",
    ]
