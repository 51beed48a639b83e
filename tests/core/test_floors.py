"""The floors of SPEC §2 hold: import-linter passes on the tree and fails on an import that breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")


def _copy_tree(target: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the project's packages on which import-linter passes, as on the real tree."""
    target = tmp_path_factory.mktemp("floors")
    _copy_tree(target)
    result = _lint(target)
    assert result.returncode == 0, result.stdout
    return target


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # a lower floor reaching up: leads (4) must learn about deals (5) from a signal
        ("leads/_probe.py", "import deals.services\n", "Floors"),
        # two apps on one floor: deals and webhooks are independent
        ("webhooks/_probe.py", "from deals.models import PartnerDeal\n", "Floors"),
        # core (1) must not know accounts (3), not even inside a function
        ("core/_probe.py", "def f():\n    from accounts.models import User\n    return User\n", "Floors"),
        # apps never import config
        ("compliance/_probe.py", "from config.celery import app\n", "Apps never import config"),
    ],
)
def test_an_import_that_breaks_the_floors_fails_the_lint(tree, module, line, broken):
    # given: a copy of the tree that passes (the fixture checked it)
    # when: one module imports against the floors
    probe = tree / module
    probe.write_text(line)
    try:
        result = _lint(tree)
    finally:
        probe.unlink()
    # then: import-linter fails and names the broken contract and the module
    assert result.returncode == 1, result.stdout
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout
