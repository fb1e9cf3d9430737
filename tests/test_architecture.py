"""The layers' import rules (pyproject.toml, [tool.importlinter]): the kernel imports no domain package, the domain
imports no shell, dispatch's features import only those below them, and a feature's SQL (its queries module) is
imported by that feature alone (the kernel's, citymgmt.core.queries, by the kernel alone). Checked on the code as it
is, and on copies with one rule broken on purpose, which must fail."""

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
    assert "15 kept, 0 broken" in done.stdout


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    for package in ("citymgmt", "grids", "dispatch"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("static", "translations"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402\n")
    return tmp_path


def test_a_domain_module_importing_the_shell_breaks_the_rule(tmp_path: Path) -> None:
    done = lint(_copy_with(tmp_path, "grids/matching.py", "from citymgmt.api import cases"))
    assert done.returncode == 1
    assert "13 kept, 2 broken" in done.stdout  # the features too: through the shell, grids reaches up to them
    assert "grids is not allowed to import citymgmt.api" in done.stdout


def test_a_feature_importing_one_above_it_breaks_the_rule(tmp_path: Path) -> None:
    done = lint(_copy_with(tmp_path, "dispatch/cases/models.py", "from dispatch.workflow import moves"))
    assert done.returncode == 1
    assert "14 kept, 1 broken" in done.stdout
    assert "dispatch.cases is not allowed to import dispatch.workflow" in done.stdout


def test_a_feature_importing_another_features_queries_breaks_the_rule(tmp_path: Path) -> None:
    # The workflow may import the SLA feature (it sits above it), but not the SLA's SQL.
    done = lint(_copy_with(tmp_path, "dispatch/workflow/views.py", "from dispatch.sla.queries import WARN_SQL"))
    assert done.returncode == 1
    assert "14 kept, 1 broken" in done.stdout
    assert "dispatch.workflow.views -> dispatch.sla.queries" in done.stdout


def test_a_domain_module_importing_the_kernels_queries_breaks_the_rule(tmp_path: Path) -> None:
    # grids may import the kernel (it sits above it), but not the kernel's SQL.
    done = lint(_copy_with(tmp_path, "grids/matching.py", "from citymgmt.core.queries import PING_SQL"))
    assert done.returncode == 1
    assert "14 kept, 1 broken" in done.stdout
    assert "grids.matching -> citymgmt.core.queries" in done.stdout
