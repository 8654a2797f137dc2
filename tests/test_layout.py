"""Guards for the traps DESIGN.md names: shadowed stdlib modules and layer boundaries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_calendar_holds_no_python():
    offenders = [p for p in (ROOT / "calendar").rglob("*") if p.suffix in (".py", ".pyc") or p.name == "__init__.py"]
    assert offenders == [], "calendar/ is data only; a package named calendar shadows the stdlib module"


def test_stdlib_calendar_and_email_still_import_from_the_repo_root():
    # Run from the repository root, where a `calendar` package would win over the stdlib.
    code = "import calendar, email.utils, sys; assert hasattr(calendar, 'monthrange'), calendar.__file__; print(calendar.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert str(ROOT / "calendar") not in out.stdout


@pytest.mark.parametrize("name", ["models", "notifications", "email", "logging", "calendar", "typing", "json", "http"])
def test_no_flow_file_shadows_a_module(name):
    # Prefect puts the flow file's folder on sys.path.
    assert not (ROOT / "flows" / f"{name}.py").exists()


def _imports(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_models_import_neither_prefect_nor_apprise_nor_our_outer_layers():
    assert _imports("models") & {"prefect", "apprise", "flows", "notifications", "intake", "reports", "fastapi", "openpyxl"} == set()


def test_notifications_do_not_import_flows():
    assert "flows" not in _imports("notifications")


def test_no_flow_file_is_named_like_an_installed_module():
    # Prefect puts flows/ on sys.path when it loads a flow file, so flows/<name>.py would
    # shadow any installed top-level module <name> for the whole process.
    code = (
        "import importlib.util, sys, pathlib; root = pathlib.Path(sys.argv[1]);"
        "sys.path[:] = [p for p in sys.path if p not in ('', str(root), str(root / 'flows'))];"
        "names = [p.stem for p in (root / 'flows').glob('*.py') if p.stem != '__init__'];"
        "print(','.join(n for n in names if importlib.util.find_spec(n) is not None))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], cwd="/", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"flows/ files shadow installed modules: {out.stdout.strip()}"


def test_reports_draw_from_the_ledger_without_prefect():
    assert _imports("reports") & {"prefect", "apprise", "flows", "notifications"} == set()
