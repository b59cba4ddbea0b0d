"""The source-root layout (docs/decisions/0001) and the migration history."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_platform_is_a_source_root_not_a_package() -> None:
    assert not (ROOT / "platform" / "__init__.py").exists()
    for package in ("arrears", "asset_console", "agency_console", "agent_workbench", "field_api"):
        assert (ROOT / "platform" / package / "__init__.py").is_file(), package


def test_standard_library_platform_module_still_wins() -> None:
    import platform

    assert platform.system()  # the stdlib module, not our folder
    # The same from the repository root, as `python -m pytest` and `flask --app wsgi` run.
    out = subprocess.run(
        [sys.executable, "-c", "import wsgi, platform; print(platform.system()); print(platform.__file__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert out[0] == platform.system()
    assert out[1].endswith("platform.py") and not out[1].startswith(str(ROOT))


def test_consoles_never_import_each_other() -> None:
    consoles = ["asset_console", "agency_console", "agent_workbench", "field_api"]
    for console in consoles:
        for path in (ROOT / "platform" / console).rglob("*.py"):
            text = path.read_text()
            for other in consoles:
                if other != console:
                    assert f"import {other}" not in text and f"from {other}" not in text, (path, other)


def test_kernel_never_imports_a_console_outside_the_factory() -> None:
    for path in (ROOT / "platform" / "arrears").rglob("*.py"):
        if path.name == "app.py":
            continue
        text = path.read_text()
        for console in ["asset_console", "agency_console", "agent_workbench", "field_api"]:
            assert f"import {console}" not in text and f"from {console}" not in text, (path, console)


def test_one_alembic_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, heads


def test_no_float_money_columns() -> None:
    from sqlalchemy import Float

    import arrears.models  # noqa: F401
    from arrears.extensions import db

    for table in db.metadata.tables.values():
        for column in table.columns:
            assert not isinstance(column.type, Float), f"{table.name}.{column.name} is a float"


def _imported_modules(path: pathlib.Path) -> set[str]:
    """Every module a file imports, at any depth (``from a.b import c`` counts ``a.b`` and ``a.b.c``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_test_module_imports_another() -> None:
    """Test data comes from tests/builders, never from another test module (nor a sub-directory's
    conftest: fixtures reach the tests without imports)."""
    tests = ROOT / "tests"
    sources = [*tests.rglob("test_*.py"), *(tests / "builders").rglob("*.py")]
    assert len(sources) > 40
    offending = []
    for path in sources:
        for module in _imported_modules(path):
            last = module.rsplit(".", 1)[-1]
            if module.startswith("tests.") and (
                last.startswith("test_") or (last == "conftest" and module != "tests.conftest")
            ):
                offending.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offending == []
