"""The rule modules import no ORM: they are plain functions over plain values.

Read from the source (importing them would import the package, and with it SQLAlchemy):
every module a rule module imports, transitively within asyncdata, is checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "asyncdata"
RULES = ("_availability", "_lifecycle", "_timezones", "_routing", "_arguments", "_vocabulary")
ORM = ("sqlalchemy", "alembic", "asyncpg", "aiosqlite")


def imports(module: str) -> set[str]:
    """The modules ``asyncdata.<module>`` imports at run time (not under TYPE_CHECKING)."""
    tree = ast.parse((PACKAGE / f"{module.replace('.', '/')}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def reach(module: str) -> set[str]:
    """Everything ``asyncdata.<module>`` imports, following asyncdata's own modules."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        for name in imports(current):
            seen.add(name)
            inner = name.removeprefix("asyncdata.")
            source = PACKAGE / f"{inner.replace('.', '/')}.py"
            if name.startswith("asyncdata.") and inner not in seen and source.exists():
                seen.add(inner)
                todo.append(inner)
    return seen


@pytest.mark.parametrize("module", RULES)
def test_a_rule_module_imports_no_orm(module: str) -> None:
    reached = reach(module)
    assert not {n for n in reached if n.split(".")[0] in ORM}
    assert not {n for n in reached if n.startswith(("asyncdata.models", "asyncdata.repositories"))}


def test_the_check_sees_an_orm_import() -> None:
    assert "sqlalchemy" in {n.split(".")[0] for n in reach("models.folded")}
