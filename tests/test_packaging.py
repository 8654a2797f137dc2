"""Packaging, decided: Yearwheel is an application run from its checkout (migrations/ and
calendar/ live beside the code), declared ``Private :: Do Not Upload``; run from a copy
of the code without the repository around it, it says so instead of failing obscurely."""

from __future__ import annotations

import pytest

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

pytestmark = pytest.mark.slow  # seconds per test: real servers, processes or converters

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["yearwheel", "models", "flows", "notifications"]


def test_the_project_says_it_is_an_application_from_its_checkout():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "Private :: Do Not Upload" in meta["project"]["classifiers"]
    assert meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == PACKAGES
    assert meta["project"]["scripts"]["yearwheel"] == "yearwheel.cli:main"
    # every Python package at the top of the checkout is one of those, and calendar/ is not a package
    tops = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests")
    assert tops == sorted(PACKAGES)


def test_run_elsewhere_it_says_to_run_from_the_checkout(tmp_path):
    elsewhere = tmp_path / "site"
    for name in PACKAGES:
        shutil.copytree(ROOT / name, elsewhere / name, ignore=shutil.ignore_patterns("__pycache__"))
    run = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(elsewhere)!r}); from yearwheel.cli import main; main()"]
    env = {"PATH": "/usr/bin:/bin", "YEARWHEEL_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    up = subprocess.run([*run, "db", "upgrade"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert up.returncode == 1, up.stderr
    assert "Yearwheel runs from its checkout" in up.stderr and "Traceback" not in up.stderr
    found = subprocess.run([*run, "validate"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert found.returncode == 1
    assert "run from the checkout" in found.stderr and "Traceback" not in found.stderr
    # the code came from the copy, not from the checkout
    where = subprocess.run(
        [*run[:2], f"import sys; sys.path.insert(0, {str(elsewhere)!r}); import yearwheel; print(yearwheel.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert where.stdout.strip().startswith(str(elsewhere))
