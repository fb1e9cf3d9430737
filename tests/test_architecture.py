"""The layers' import rules (pyproject.toml, [tool.importlinter]): the kernel imports no domain package, the domain
imports no shell. Checked on the code as it is, and on a copy with one rule broken on purpose, which must fail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO

LINT = str(REPO / ".venv" / "bin" / "lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT, "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_layers_are_kept() -> None:
    done = lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_a_domain_module_importing_the_shell_breaks_the_rule(tmp_path: Path) -> None:
    for package in ("citymgmt", "grids", "dispatch"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("static", "translations"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    matching = tmp_path / "grids" / "matching.py"
    matching.write_text(matching.read_text() + "\nfrom citymgmt.api import cases  # noqa: E402\n")
    done = lint(tmp_path)
    assert done.returncode == 1
    assert "0 kept, 1 broken" in done.stdout
    assert "grids is not allowed to import citymgmt.api" in done.stdout
