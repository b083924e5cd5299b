"""core/ is the CRM: it may import only the standard library, pydantic and rapidfuzz."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {"pydantic", "rapidfuzz", "core", "__future__"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def test_core_imports_only_stdlib_pydantic_and_rapidfuzz() -> None:
    bad = []
    files = list((ROOT / "core").rglob("*.py"))
    assert files, "core/ has no modules?"
    for path in files:
        for line, top in _imports(path):
            if top not in ALLOWED and top not in sys.stdlib_module_names:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {top}")
    assert not bad, "core/ must stay free of platform, web and database code:\n" + "\n".join(bad)


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import sqlalchemy\nfrom bot.app import build_app\nimport json\n", encoding="utf-8")
    tops = {top for _, top in _imports(sample)}
    assert {"sqlalchemy", "bot"} <= tops - ALLOWED - set(sys.stdlib_module_names)
