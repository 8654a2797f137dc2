"""Guards for the traps DESIGN.md names: shadowed stdlib modules and layer boundaries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_calendar_holds_no_python():
    offenders = [p for p in (ROOT / "calendar").rglob("*") if p.suffix in (".py", ".pyc") or p.name == "__init__.py"]
    assert offenders == [], "calendar/ is data only; a package named calendar shadows the stdlib module"


def test_stdlib_calendar_and_email_still_import_from_the_repo_root():
    # Run from the repository root, where a `calendar` package would win over the stdlib.
    code = (
        "import calendar, email.utils, sys; assert hasattr(calendar, 'monthrange'), calendar.__file__; print(calendar.__file__)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert str(ROOT / "calendar") not in out.stdout


@pytest.mark.parametrize("name", ["models", "notifications", "email", "logging", "calendar", "typing", "json", "http"])
def test_no_flow_file_shadows_a_module(name):
    # Prefect puts the flow file's folder on sys.path.
    assert not (ROOT / "flows" / f"{name}.py").exists()


def _modules(package: str) -> dict[str, set[str]]:
    """Every module under ``package`` (a folder of the repository) → the dotted names it
    imports, anywhere in the file (lazy imports inside functions count too)."""
    out = {}
    for path in (ROOT / package).rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        mod = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against the module's package
                    base = mod.split(".")[: len(mod.split(".")) - node.level + (1 if rel.name == "__init__" else 0)]
                    found.add(".".join(base + ([node.module] if node.module else [])))
                elif node.module:
                    found.add(node.module)
        out[mod] = found
    return out


def _imports(package: str) -> set[str]:
    """Top-level names ``package`` imports."""
    return {name.split(".")[0] for names in _modules(package).values() for name in names}


def _violations(package: str, allowed: Callable[[str, str], bool]) -> list[str]:
    ours = {"models", "notifications", "yearwheel", "flows"}
    return sorted(
        f"{mod} imports {name}"
        for mod, names in _modules(package).items()
        for name in names
        if name.split(".")[0] in ours and not allowed(mod, name)
    )


FACES = ("yearwheel.cli", "yearwheel.web")  # entry points inside the application package


def _is_face(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FACES)


def test_the_dependency_rule():
    """models → nothing of ours; notifications → models; the application package → models,
    notifications; flows, the CLI and the web service → the application package (and the
    domain's types). The CLI may start a flow (``--prefect``) and serve the web service."""
    assert _violations("models", lambda m, n: n.startswith("models")) == []
    assert _violations("notifications", lambda m, n: n.split(".")[0] in ("models", "notifications")) == []
    core = lambda m, n: n.split(".")[0] in ("models", "notifications") or (n.startswith("yearwheel") and not _is_face(n))  # noqa: E731
    assert (
        _violations(
            "yearwheel",
            lambda m, n: (
                core(m, n)
                or (
                    _is_face(m)
                    and (
                        n.startswith("flows")
                        and m.startswith("yearwheel.cli")
                        or n.startswith("yearwheel.web")
                        and m.startswith("yearwheel.cli")
                        or n.split(".")[0] == "yearwheel"
                    )
                )
            ),
        )
        == []
    )
    assert (
        _violations(
            "flows", lambda m, n: n.split(".")[0] in ("models", "flows") or (n.startswith("yearwheel") and not _is_face(n))
        )
        == []
    )


def test_the_domain_and_notifications_import_no_framework():
    frameworks = {"prefect", "apprise", "fastapi", "starlette", "uvicorn", "typer", "rich", "openpyxl", "flows", "yearwheel"}
    assert _imports("models") & (frameworks | {"notifications"}) == set()
    # notifications: apprise is its business; Prefect only to read a {prefect_secret: BLOCK} (lazily)
    assert _imports("notifications") & (frameworks - {"apprise", "prefect"}) == set()
    assert _imports("yearwheel/reports") & {"prefect", "apprise", "flows", "fastapi"} == set()


def test_only_the_settings_read_the_environment():
    readers = []
    for package in ("models", "notifications", "yearwheel", "flows"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "os.environ" in text or "os.getenv" in text or "getenv(" in text:
                readers.append(str(path.relative_to(ROOT)))
    assert readers == ["yearwheel/settings.py"]


def test_our_top_level_names_are_ours_alone_and_resolve_in_the_checkout():
    """No installed distribution provides (or is shadowed by) models, flows,
    notifications or yearwheel; each imports from this repository."""
    import importlib.metadata

    providers = importlib.metadata.packages_distributions()
    for name in ("models", "flows", "notifications", "yearwheel"):
        assert set(providers.get(name, ["yearwheel"])) == {"yearwheel"}, (name, providers.get(name))
        out = subprocess.run(
            [sys.executable, "-c", f"import {name}; print({name}.__file__)"], cwd="/", capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().startswith(str(ROOT / name)), out.stdout


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
